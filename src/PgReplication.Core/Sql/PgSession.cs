using System.Net;
using Npgsql;
using PgReplication.Core.Model;

namespace PgReplication.Core.Sql;

/// <summary>A row of a query result, by column name or position.</summary>
public sealed class SqlRow
{
    private readonly Dictionary<string, int> _index;
    private readonly object?[] _values;
    internal SqlRow(Dictionary<string, int> index, object?[] values) { _index = index; _values = values; }
    public object? this[int i] => _values[i];
    public object? this[string column] => _values[_index[column]];
    public T? Get<T>(string column) => _values[_index[column]] is T t ? t : default;
    public string? Text(string column) => _values[_index[column]]?.ToString();
}

/// <summary>
/// One connection to one node over Npgsql. Every query the module sends is written
/// catalog-qualified (pg_catalog.) so a user's search_path cannot redirect it.
/// Npgsql's types stay inside this class.
/// </summary>
public sealed class PgSession : IDisposable
{
    private NpgsqlConnection _connection;
    private readonly IOperationLog _log;
    private readonly string _host;
    // A connection taken from the pool and not used yet: Npgsql does not check pooled connections, so when the
    // first statement finds it broken (the server restarted or died since), the pool is cleared and the
    // statement sent again on a new connection. It never reached the server, so sending it again is safe.
    private bool _pooledUnchecked;
    // Seconds a statement may run: set on each command, not in the connection string, so that sessions to a server
    // with different statement timeouts share one pool (right after a crash each pool means another login: issue 19).
    private readonly int _commandTimeoutSeconds;
    // As built (Npgsql drops the password from NpgsqlConnection.ConnectionString once open); kept for that one reconnect.
    private readonly string _connectionString;

    private PgSession(NpgsqlConnection connection, string connectionString, IOperationLog log, string host, bool pooled, int commandTimeoutSeconds)
    {
        _connection = connection; _connectionString = connectionString; _log = log; _host = host; _pooledUnchecked = pooled;
        _commandTimeoutSeconds = commandTimeoutSeconds;
    }

    public static PgSession Open(PgNode node, NetworkCredential? credential = null, IOperationLog? log = null,
        string? database = null, TimeSpan? connectTimeout = null, TimeSpan? commandTimeout = null,
        PgEndpoint? via = null, bool pooled = false, string? verifyFullWith = null) =>
        OpenCore(node, credential, log, database, connectTimeout, commandTimeout, via, pooled, async: false, verifyFullWith).GetAwaiter().GetResult();

    /// <summary>
    /// Open, without a thread waiting on the socket: what the health check uses to read many servers at once.
    /// (Measured on the 2-core lab, a synchronous Npgsql query costs the client about three times the CPU of an
    /// asynchronous one, and seven standbys' reads compete with their servers for those two cores.)
    /// </summary>
    public static Task<PgSession> OpenAsync(PgNode node, IOperationLog? log = null, TimeSpan? connectTimeout = null, bool pooled = false) =>
        OpenCore(node, null, log, null, connectTimeout, null, null, pooled, async: true);

    // One body for both: with async false every await below completes at once, on the caller's thread.
    private static async Task<PgSession> OpenCore(PgNode node, NetworkCredential? credential, IOperationLog? log,
        string? database, TimeSpan? connectTimeout, TimeSpan? commandTimeout, PgEndpoint? via, bool pooled, bool async, string? verifyFullWith = null)
    {
        log ??= NullOperationLog.Instance;
        credential ??= node.AdminCredential;
        var builder = new NpgsqlConnectionStringBuilder
        {
            Host = via?.Host ?? node.ComputerName,
            Port = via?.Port ?? node.Port,
            Database = database ?? node.Database,
            Username = string.IsNullOrEmpty(credential?.UserName) ? "postgres" : credential!.UserName,
            Timeout = (int)Math.Ceiling((connectTimeout ?? node.ConnectTimeout).TotalSeconds),
            ApplicationName = "PgReplication",
            // A pooled connection would outlive a server we restart or kill: only the read-only checks that run
            // over and over (Test-PgReplication) pool theirs, and test each one before use (below).
            Pooling = pooled,
            IncludeErrorDetail = false,
        };
        if (pooled)
        {
            // An idle pooled connection is a backend on the server: let it go after a minute.
            builder.ConnectionIdleLifetime = 60;
            builder.ConnectionPruningInterval = 10;
            // Pooled sessions only read (and promote): they leave no session state for a DISCARD ALL to clear.
            builder.NoResetOnClose = true;
            // The same few statements again and again: prepared once per connection, the servers skip parsing
            // and planning them (the health check's catalog views cost more to plan than to run).
            builder.MaxAutoPrepare = 32;
            builder.AutoPrepareMinUsages = 2;
        }
        if (!string.IsNullOrEmpty(credential?.Password)) builder.Password = credential!.Password;
        // TLS checked as a standby's verify-full checks it: the server's certificate chains to this CA file and names the host.
        if (verifyFullWith is not null) { builder.SslMode = SslMode.VerifyFull; builder.RootCertificate = verifyFullWith; }

        log.Debug($"Connecting to {builder.Host}:{builder.Port} database {builder.Database} as {builder.Username}.");
        var connection = new NpgsqlConnection(builder.ConnectionString);
        try
        {
            if (async) await connection.OpenAsync().ConfigureAwait(false);
            else connection.Open();
        }
        catch (Exception ex) when (ex is NpgsqlException or TimeoutException or System.Net.Sockets.SocketException or IOException)
        {
            connection.Dispose();
            throw new PgConnectionException(node.Name,
                $"Could not connect to PostgreSQL on {node.ComputerName}:{node.Port} as {builder.Username}: {ex.Message}", ex)
            { SqlState = (ex as PostgresException)?.SqlState };
        }
        return new PgSession(connection, builder.ConnectionString, log, node.Name, pooled, (int)Math.Ceiling((commandTimeout ?? TimeSpan.FromSeconds(60)).TotalSeconds));
    }

    public string Host => _host;

    public T? Scalar<T>(string sql, params (string Name, object? Value)[] parameters)
    {
        var value = Wrap(() => { using var cmd = Command(sql, parameters); return cmd.ExecuteScalar(); }, sql);
        if (value is null or DBNull) return default;
        if (value is T t) return t;
        return (T)Convert.ChangeType(value, Nullable.GetUnderlyingType(typeof(T)) ?? typeof(T), System.Globalization.CultureInfo.InvariantCulture);
    }

    public IReadOnlyList<SqlRow> Query(string sql, params (string Name, object? Value)[] parameters) =>
        QueryCore(sql, parameters, async: false).GetAwaiter().GetResult();

    public Task<IReadOnlyList<SqlRow>> QueryAsync(string sql) => QueryCore(sql, Array.Empty<(string, object?)>(), async: true);

    private Task<IReadOnlyList<SqlRow>> QueryCore(string sql, (string Name, object? Value)[] parameters, bool async) =>
        WrapCore<IReadOnlyList<SqlRow>>(async () =>
        {
            using var cmd = Command(sql, parameters);
            using var reader = async ? await cmd.ExecuteReaderAsync().ConfigureAwait(false) : cmd.ExecuteReader();
            return await ReadRows(reader, async).ConfigureAwait(false);
        }, sql, async);

    /// <summary>
    /// Several statements (no parameters) in one round trip, their results in order, then
    /// <paramref name="refusable"/> last: its result is null when the role may not run it (insufficient
    /// privilege), and the others' results stand. Any other failure fails them all (one implicit transaction).
    /// </summary>
    public Task<IReadOnlyList<IReadOnlyList<SqlRow>?>> QueryBatchAsync(IReadOnlyList<string> statements, string? refusable = null) =>
        QueryBatchAsync(statements, refusable is null ? Array.Empty<string>() : new[] { refusable });

    /// <summary>
    /// As above, with several refusable statements after the others, each null when the role may not run it. A
    /// refusal skips what follows it in the batch (the server's implicit transaction ends there), so the refusables
    /// after it go in another round trip: a role allowed everything still pays one.
    /// </summary>
    public async Task<IReadOnlyList<IReadOnlyList<SqlRow>?>> QueryBatchAsync(IReadOnlyList<string> statements, IReadOnlyList<string> refusables)
    {
        var (results, refused) = await RunBatch(statements, refusables).ConfigureAwait(false);
        while (refused && results.Count < statements.Count + refusables.Count)
        {
            var (more, again) = await RunBatch(Array.Empty<string>(), refusables.Skip(results.Count - statements.Count).ToList()).ConfigureAwait(false);
            results.AddRange(more);
            refused = again;
        }
        return results;
    }

    // One round trip: the statements, then the refusables; stops at the first refusal (its result null).
    private Task<(List<IReadOnlyList<SqlRow>?> Results, bool Refused)> RunBatch(IReadOnlyList<string> statements, IReadOnlyList<string> refusables)
    {
        var all = statements.Concat(refusables).ToList();
        var what = string.Join("; ", all);
        return WrapCore<(List<IReadOnlyList<SqlRow>?>, bool)>(async () =>
        {
            using var batch = new NpgsqlBatch(_connection) { Timeout = _commandTimeoutSeconds };
            foreach (var sql in all) batch.BatchCommands.Add(new NpgsqlBatchCommand(sql));
            _log.Debug($"SQL on {_host}: {what}");
            var results = new List<IReadOnlyList<SqlRow>?>();
            NpgsqlDataReader reader;
            // A refusable first in the batch (a second round trip) is refused as the batch starts.
            try { reader = await batch.ExecuteReaderAsync().ConfigureAwait(false); }
            catch (PostgresException ex) when (IsRefusal(ex, results.Count)) { results.Add(null); return (results, true); }
            using (reader)
            {
                results.Add(await ReadRows(reader, async: true).ConfigureAwait(false));
                while (results.Count < all.Count)
                {
                    // The refusal of a statement comes as its result is reached; the ones before were read.
                    try { if (!await reader.NextResultAsync().ConfigureAwait(false)) break; }
                    catch (PostgresException ex) when (IsRefusal(ex, results.Count)) { results.Add(null); return (results, true); }
                    results.Add(await ReadRows(reader, async: true).ConfigureAwait(false));
                }
            }
            return (results, false);

            bool IsRefusal(PostgresException ex, int index)
            {
                if (index < statements.Count || ex.SqlState != PostgresErrorCodes.InsufficientPrivilege) return false;
                _log.Debug($"On {_host}, not allowed: {all[index]} ({ex.MessageText}).");
                return true;
            }
        }, what, async: true);
    }

    private static async Task<IReadOnlyList<SqlRow>> ReadRows(NpgsqlDataReader reader, bool async)
    {
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < reader.FieldCount; i++) index.TryAdd(reader.GetName(i), i);
        var rows = new List<SqlRow>();
        while (async ? await reader.ReadAsync().ConfigureAwait(false) : reader.Read())
        {
            var values = new object?[reader.FieldCount];
            for (var i = 0; i < values.Length; i++) values[i] = reader.IsDBNull(i) ? null : reader.GetValue(i);
            rows.Add(new SqlRow(index, values));
        }
        return rows;
    }

    public int Execute(string sql, params (string Name, object? Value)[] parameters)
    {
        return Wrap(() => { using var cmd = Command(sql, parameters); return cmd.ExecuteNonQuery(); }, sql);
    }

    /// <summary>
    /// Runs a statement that carries a secret (a password verifier). <paramref name="description"/>
    /// is what the debug log shows instead of the statement.
    /// </summary>
    public void ExecuteSecret(string sql, string description)
    {
        _log.Debug($"SQL on {_host}: {description} (statement withheld: it carries a secret)");
        Wrap(() => { using var cmd = new NpgsqlCommand(sql, _connection) { CommandTimeout = _commandTimeoutSeconds }; return cmd.ExecuteNonQuery(); }, description);
    }

    private NpgsqlCommand Command(string sql, (string Name, object? Value)[] parameters)
    {
        var cmd = new NpgsqlCommand(sql, _connection) { CommandTimeout = _commandTimeoutSeconds };
        foreach (var (name, value) in parameters) cmd.Parameters.AddWithValue(name, value ?? DBNull.Value);
        _log.Debug($"SQL on {_host}: {sql}" + (parameters.Length > 0
            ? " -- " + string.Join(", ", parameters.Select(p => $"@{p.Name}={p.Value}"))
            : ""));
        return cmd;
    }

    private T Wrap<T>(Func<T> action, string what) => WrapCore(() => Task.FromResult(action()), what, async: false).GetAwaiter().GetResult();

    private async Task<T> WrapCore<T>(Func<Task<T>> action, string what, bool async)
    {
        // Every try's error is named the same way, the first statement of a pooled session's too.
        try { return await RunOnLiveConnection(action, async).ConfigureAwait(false); }
        catch (PostgresException ex)
        {
            throw new PgQueryException(_host, $"On {_host}, PostgreSQL refused '{Shorten(what)}': {ex.MessageText} (SQLSTATE {ex.SqlState})", ex.SqlState, ex);
        }
        catch (Exception ex) when (ex is NpgsqlException or TimeoutException or IOException)
        {
            throw new PgConnectionException(_host, $"On {_host}, the connection failed during '{Shorten(what)}': {ex.Message}", ex);
        }
    }

    /// <summary>The statement, sent again on a new connection when the pool's connection turns out broken on first use.</summary>
    private async Task<T> RunOnLiveConnection<T>(Func<Task<T>> action, bool async)
    {
        if (!_pooledUnchecked) return await action().ConfigureAwait(false);
        _pooledUnchecked = false;
        try { return await action().ConfigureAwait(false); }
        catch (Exception ex) when (IsBrokenConnection(ex))
        {
            _log.Debug($"On {_host}, the pooled connection was broken ({ex.Message}); connecting again.");
        }
        // The new connection goes back to the pool, so the next session to this server needs no new login (right
        // after a crash, three sessions one after the other each logged in again: issue 19). While another session
        // clears the same pool, Npgsql can still hand out an idle connection from before the restart (its Clear
        // returns at once when one is already running), and several sessions to a server that just came back do open
        // at once: such a connection is dropped in turn, and the last try is a connection of its own, outside the pool.
        for (var attempt = 1; attempt < PooledReconnects; attempt++)
        {
            await Reconnect(pooled: true, async).ConfigureAwait(false);
            try { return await action().ConfigureAwait(false); }
            catch (Exception again) when (IsBrokenConnection(again))
            {
                _log.Debug($"On {_host}, the pool handed out another connection from before ({again.Message}); connecting again.");
            }
        }
        await Reconnect(pooled: false, async).ConfigureAwait(false);
        return await action().ConfigureAwait(false);
    }

    // Tries on a pooled connection after a broken one, the last of them outside the pool.
    private const int PooledReconnects = 3;

    private async Task Reconnect(bool pooled, bool async)
    {
        NpgsqlConnection.ClearPool(_connection);
        _connection.Dispose();
        _connection = new NpgsqlConnection(pooled ? _connectionString : new NpgsqlConnectionStringBuilder(_connectionString) { Pooling = false }.ConnectionString);
        try
        {
            if (async) await _connection.OpenAsync().ConfigureAwait(false);
            else _connection.Open();
        }
        catch (Exception openFailed) when (openFailed is NpgsqlException or TimeoutException or System.Net.Sockets.SocketException or IOException)
        {
            throw new PgConnectionException(_host, $"Could not connect to PostgreSQL on {_host} again: {openFailed.Message}", openFailed)
            { SqlState = (openFailed as PostgresException)?.SqlState };
        }
    }

    /// <summary>
    /// The connection died under us (closed socket, the server's own "terminating connection" on a restart),
    /// not a statement error and not a server that is slow to answer: that one is not asked twice.
    /// </summary>
    private static bool IsBrokenConnection(Exception ex) => ex switch
    {
        PostgresException pg => pg.SqlState is "57P01" or "57P02" or "57P03",
        NpgsqlException npgsql => npgsql.InnerException is not TimeoutException,
        IOException => true,
        _ => false,
    };

    private static string Shorten(string s)
    {
        s = System.Text.RegularExpressions.Regex.Replace(s, @"\s+", " ").Trim();
        return s.Length <= 120 ? s : s[..120] + " ...";
    }

    public void Dispose() => _connection.Dispose();
}

/// <summary>The server could not be reached or the connection broke. The message names the host.</summary>
public sealed class PgConnectionException : Exception
{
    public PgConnectionException(string host, string message, Exception? inner = null) : base(message, inner) => Host = host;
    public string Host { get; }
    /// <summary>The server's SQLSTATE when one answered but refused the login (28P01 a wrong password, 57P03 starting up); null when none answered.</summary>
    public string? SqlState { get; init; }
    /// <summary>A server answered but refused the login (a wrong password, no pg_hba line): it is up.</summary>
    public bool ServerAnswered => SqlState is not null;
}

/// <summary>The server refused a statement. The message names the host.</summary>
public sealed class PgQueryException : Exception
{
    public PgQueryException(string host, string message, string sqlState, Exception? inner = null) : base(message, inner)
    {
        Host = host; SqlState = sqlState;
    }
    public string Host { get; }
    public string SqlState { get; }
}
