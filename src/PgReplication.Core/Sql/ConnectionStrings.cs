using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Npgsql;
using PgReplication.Core.Config;
using PgReplication.Core.Model;
using Target = PgReplication.Core.Model.TargetSessionAttribute;

namespace PgReplication.Core.Sql;

/// <summary>Who a client connects as, and which server it accepts; the nodes come separately.</summary>
public sealed record ConnectionStringSettings
{
    public string Database { get; init; } = "postgres";
    /// <summary>Left out of the string when null or empty: the client then uses its own default.</summary>
    public string? UserName { get; init; }
    /// <summary>Only in the string when set: connection strings end up in logs.</summary>
    public string? Password { get; init; }
    public Target Target { get; init; } = Target.ReadWrite;
    /// <summary>
    /// Seconds a client waits for each host before it tries the next; 0 leaves it out. Without it, a host
    /// that is cut off (not refusing, just silent) holds the client for the OS's TCP timeout, minutes.
    /// </summary>
    public int ConnectTimeoutSeconds { get; init; } = 5;
    /// <summary>libpq's sslmode (disable, allow, prefer, require, verify-ca, verify-full); null leaves the client's default.</summary>
    public string? SslMode { get; init; }
    /// <summary>The CA file the client checks the servers' certificates against (sslrootcert).</summary>
    public string? SslRootCert { get; init; }
}

/// <summary>
/// Multi-host connection strings for libpq, Npgsql and pgJDBC. The client tries the nodes in order and keeps
/// the first that matches the target, so applications find the new primary after a failover on their own.
/// </summary>
public static class ConnectionStrings
{
    public static PgConnectionString Build(ConnectionStringFormat format, IReadOnlyList<PgNode> nodes, ConnectionStringSettings settings)
    {
        Validate(nodes, settings);
        var text = format switch
        {
            ConnectionStringFormat.Libpq => LibpqString(nodes, settings),
            ConnectionStringFormat.Npgsql => NpgsqlString(nodes, settings),
            ConnectionStringFormat.Jdbc => JdbcUrl(nodes, settings),
            _ => throw new ArgumentOutOfRangeException(nameof(format), format, null),
        };
        return new PgConnectionString
        {
            Format = format,
            TargetSessionAttribute = DropsTarget(format, nodes) ? Target.Any : settings.Target,
            Hosts = nodes.Select(HostPort).ToArray(),
            ConnectionString = text,
        };
    }

    /// <summary>libpq's target_session_attrs. Npgsql 10 parses the same words (it refuses "ReadWrite" and "PreferStandby").</summary>
    internal static string LibpqTarget(Target target) => target switch
    {
        Target.ReadWrite => "read-write",
        Target.Primary => "primary",
        Target.Standby => "standby",
        Target.PreferStandby => "prefer-standby",
        Target.Any => "any",
        _ => throw new ArgumentOutOfRangeException(nameof(target), target, null),
    };

    /// <summary>pgJDBC's targetServerType: it has no read-write, its "primary" is the server that accepts writes.</summary>
    internal static string JdbcTarget(Target target) => target switch
    {
        Target.ReadWrite or Target.Primary => "primary",
        Target.Standby => "secondary",
        Target.PreferStandby => "preferSecondary",
        Target.Any => "any",
        _ => throw new ArgumentOutOfRangeException(nameof(target), target, null),
    };

    /// <summary>host:port, with an IPv6 address in brackets (Npgsql, JDBC and users read it so).</summary>
    internal static string HostPort(PgNode node) =>
        IPAddress.TryParse(node.ComputerName, out var ip) && ip.AddressFamily == AddressFamily.InterNetworkV6
            ? $"[{node.ComputerName}]:{Port(node)}"
            : $"{node.ComputerName}:{Port(node)}";

    private static string LibpqString(IReadOnlyList<PgNode> nodes, ConnectionStringSettings s)
    {
        // libpq splits host and port on commas after unquoting, and pairs them by position.
        var values = new List<KeyValuePair<string, string>>
        {
            new("host", string.Join(',', nodes.Select(n => n.ComputerName))),
            new("port", string.Join(',', nodes.Select(Port))),
            new("dbname", s.Database),
        };
        values.AddRange(UserAndPassword(s, "user", "password"));
        if (s.ConnectTimeoutSeconds > 0) values.Add(new("connect_timeout", Seconds(s)));
        values.AddRange(Ssl(s));
        values.Add(new("target_session_attrs", LibpqTarget(s.Target)));
        return Conninfo.Build(values);
    }

    private static string NpgsqlString(IReadOnlyList<PgNode> nodes, ConnectionStringSettings s)
    {
        // The builder quotes values with ';', '=' or quotes as Npgsql reads them back.
        var builder = new NpgsqlConnectionStringBuilder { Host = string.Join(',', nodes.Select(HostPort)), Database = s.Database };
        foreach (var (key, value) in UserAndPassword(s, "Username", "Password")) builder[key] = value;
        if (s.ConnectTimeoutSeconds > 0) builder.Timeout = s.ConnectTimeoutSeconds;
        if (s.SslMode is { } mode) builder.SslMode = Enum.Parse<SslMode>(mode.Replace("-", ""), ignoreCase: true);
        if (s.SslRootCert is { } root) builder.RootCertificate = root;
        if (!DropsTarget(ConnectionStringFormat.Npgsql, nodes)) builder.TargetSessionAttributes = LibpqTarget(s.Target);
        return builder.ConnectionString;
    }

    /// <summary>
    /// Npgsql refuses a target session attribute with a single host ("only with multiple hosts"): its string for one
    /// node leaves it out and connects to that node whatever its role. libpq and pgJDBC check the role of one host too.
    /// </summary>
    public static bool DropsTarget(ConnectionStringFormat format, IReadOnlyList<PgNode> nodes) =>
        format == ConnectionStringFormat.Npgsql && nodes.Count == 1;

    private static string JdbcUrl(IReadOnlyList<PgNode> nodes, ConnectionStringSettings s)
    {
        var query = UserAndPassword(s, "user", "password");
        if (s.ConnectTimeoutSeconds > 0) query = query.Append(new("connectTimeout", Seconds(s)));
        query = query.Concat(Ssl(s));
        query = query.Append(new("targetServerType", JdbcTarget(s.Target)));
        return $"jdbc:postgresql://{string.Join(',', nodes.Select(HostPort))}/{Uri.EscapeDataString(s.Database)}?"
            + string.Join('&', query.Select(kv => $"{kv.Key}={Uri.EscapeDataString(kv.Value)}"));
    }

    private static IEnumerable<KeyValuePair<string, string>> UserAndPassword(ConnectionStringSettings s, string userKey, string passwordKey)
    {
        if (!string.IsNullOrEmpty(s.UserName)) yield return new(userKey, s.UserName);
        if (s.Password is not null) yield return new(passwordKey, s.Password);
    }

    // libpq and pgJDBC spell both the same: sslmode=verify-full, sslrootcert=<file>.
    private static IEnumerable<KeyValuePair<string, string>> Ssl(ConnectionStringSettings s)
    {
        if (s.SslMode is not null) yield return new("sslmode", s.SslMode);
        if (s.SslRootCert is not null) yield return new("sslrootcert", s.SslRootCert);
    }

    private static string Seconds(ConnectionStringSettings s) => s.ConnectTimeoutSeconds.ToString(CultureInfo.InvariantCulture);

    private static string Port(PgNode node) => node.Port.ToString(CultureInfo.InvariantCulture);

    private static void Validate(IReadOnlyList<PgNode> nodes, ConnectionStringSettings s)
    {
        if (nodes.Count == 0) throw new ArgumentException("A connection string needs at least one node.", nameof(nodes));
        foreach (var node in nodes)
        {
            ConfigValues.EnsureSafe(node.ComputerName, "computer name");
            // A comma separates hosts in all three forms: it would make two hosts out of one.
            if (node.ComputerName.Contains(','))
                throw new ArgumentException($"The computer name '{node.ComputerName}' contains a comma, which separates hosts in a connection string.");
        }
        if (string.IsNullOrEmpty(s.Database)) throw new ArgumentException("The database name is empty.");
        ConfigValues.EnsureSafe(s.Database, "database name");
        if (s.UserName is not null) ConfigValues.EnsureSafe(s.UserName, "user name");
        if (s.Password is not null) ConfigValues.EnsureSafe(s.Password, "password", secret: true);
        if (s.SslMode is not null && s.SslMode is not ("disable" or "allow" or "prefer" or "require" or "verify-ca" or "verify-full"))
            throw new ArgumentException($"'{s.SslMode}' is not an sslmode (disable, allow, prefer, require, verify-ca, verify-full).");
        if (s.SslRootCert is not null) ConfigValues.EnsureSafe(s.SslRootCert, "sslrootcert");
    }
}
