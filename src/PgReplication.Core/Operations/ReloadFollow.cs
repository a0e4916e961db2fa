using PgReplication.Core.Config;
using PgReplication.Core.Model;
using PgReplication.Core.Sql;
using PgReplication.Core.Versions;

namespace PgReplication.Core.Operations;

/// <summary>
/// What a running standby's re-point over SQL alone is decided from, read on the standby itself: its recovery settings
/// with the file each comes from, and its passfile with every password replaced by a class name (lines with the same
/// password share one), so libpq's matching runs here while no password leaves the server.
/// </summary>
internal sealed record ReloadFollowFacts(string? DataDirectory, string? Conninfo, string? ConninfoSource, string? SlotName, string? SlotSource,
    string? RedactedPassFile, bool MayAlterSystem = true);

/// <summary>A re-point over SQL: the settings ALTER SYSTEM writes (null: RESET), and what they were, to put back.</summary>
internal sealed record ReloadRepoint(IReadOnlyDictionary<string, string?> Changes, IReadOnlyDictionary<string, string?> Before, string ReplicationUser,
    bool OverTls, bool SyncsSlots, string? OldSlot, string Slot, string Reason);

/// <summary>
/// Re-points a running standby (13+, where primary_conninfo is reloaded) with ALTER SYSTEM and a reload, no SSH: used
/// during a promotion, when the standby's login already serves the new upstream (the same passfile line as now), its
/// recovery settings live in postgresql.auto.conf (where ALTER SYSTEM writes, and the file the SSH path would edit),
/// and no file on its host needs a change. Anything else goes the SSH way (HotStandby), which also repairs files.
/// </summary>
internal static class ReloadFollow
{
    /// <summary>The passfile with each password replaced by 'p' and its rank among the distinct passwords (libpq's fields, escapes kept).</summary>
    private const string RedactedPassFileQuery = """
        SELECT pg_catalog.string_agg(r.line, E'\n' ORDER BY r.n) AS redacted FROM (
          SELECT e.n, e.m[1] || 'p' || pg_catalog.dense_rank() OVER (ORDER BY e.m[2]) AS line FROM (
            SELECT l.n, pg_catalog.regexp_match(pg_catalog.rtrim(l.line, E'\r'),
                   '^((?:[^:\\]|\\.)*:(?:[^:\\]|\\.)*:(?:[^:\\]|\\.)*:(?:[^:\\]|\\.)*:)(.*)$') AS m
              FROM pg_catalog.regexp_split_to_table(pg_catalog.pg_read_file(@path, 0, 1048576, true), E'\n') WITH ORDINALITY AS l(line, n)
             WHERE l.line NOT LIKE '#%') e
           WHERE e.m IS NOT NULL) r
        """;

    /// <summary>Reads the facts on a pooled session (the one Apply reloads on); null when this role may not read them.</summary>
    public static ReloadFollowFacts? Read(PgNode standby, IOperationLog log)
    {
        // Before 13 the decision needs no facts (a restart re-points it); before 12 primary_conninfo is no setting at all.
        if (standby.MajorVersion is not { } major || !StandbyConfigRules.ReloadsPrimaryConninfo(major)) return null;
        // ALTER SYSTEM of the two settings: a superuser's, or from 15 granted on each parameter.
        var mayAlterSystem = VersionRules.Applies(VersionRules.AlterSystemOnParameter, major)
            ? "pg_catalog.has_parameter_privilege('primary_conninfo', 'ALTER SYSTEM') AND pg_catalog.has_parameter_privilege('primary_slot_name', 'ALTER SYSTEM')"
            : "pg_catalog.current_setting('is_superuser')::boolean";
        try
        {
            using var session = PgSession.Open(standby, log: log, connectTimeout: HotStandby.RunningStandbyConnectTimeout, pooled: true);
            var row = session.Query($"""
                SELECT pg_catalog.current_setting('data_directory') AS data, {mayAlterSystem} AS may_alter_system,
                       c.setting AS conninfo, c.sourcefile AS conninfo_source, s.setting AS slot, s.sourcefile AS slot_source
                  FROM pg_catalog.pg_settings c, pg_catalog.pg_settings s
                 WHERE c.name = 'primary_conninfo' AND s.name = 'primary_slot_name'
                """).SingleOrDefault();
            if (row is null) return null;
            var conninfo = row.Text("conninfo");
            var passFile = PassFilePath(conninfo);
            var redacted = passFile is null ? null : session.Scalar<string>(RedactedPassFileQuery, ("path", passFile));
            return new ReloadFollowFacts(row.Text("data"), conninfo, row.Text("conninfo_source"), row.Text("slot"), row.Text("slot_source"), redacted,
                row.Get<bool>("may_alter_system"));
        }
        catch (Exception ex) when (ex is PgConnectionException or PgQueryException)
        {
            // A role without pg_read_all_settings or pg_read_server_files (issue 22's least privilege): the SSH way.
            log.Verbose($"{standby.Name}: its recovery settings and passfile could not be read over SQL ({ex.Message}).");
            return null;
        }
    }

    private static string? PassFilePath(string? conninfo)
    {
        if (string.IsNullOrEmpty(conninfo)) return null;
        try { return Conninfo.Parse(conninfo).GetValueOrDefault("passfile") is { Length: > 0 } p ? p : null; }
        catch (FormatException) { return null; }
    }

    /// <summary>The re-point over SQL, or why the standby goes the SSH way. Pure: unit-tested.</summary>
    /// <param name="credentialIsTheNodes">The follow's replication role is the one the node was set up with, not one given for this command.</param>
    public static (ReloadRepoint? Repoint, string? WhyNot) Decide(PgNode standby, int? major, PgNode upstream, ReloadFollowFacts? facts,
        FollowRequest request, bool credentialIsTheNodes)
    {
        if (major is not { } m || !StandbyConfigRules.ReloadsPrimaryConninfo(m)) return (null, $"PostgreSQL {major?.ToString() ?? "of unknown version"} reads primary_conninfo at start only");
        if (request.Replication is not null && !credentialIsTheNodes) return (null, "a replication role was given for this command");
        if (request.SlotName is not null || request.RestoreCommand is not null) return (null, "a slot or restore_command was asked for");
        if (facts is null) return (null, "its settings could not be read over SQL");
        if (!facts.MayAlterSystem) return (null, "this role may not ALTER SYSTEM primary_conninfo and primary_slot_name there");
        if (string.IsNullOrEmpty(facts.Conninfo) || facts.DataDirectory is null) return (null, "it has no primary_conninfo");
        var autoConf = RemotePath.Join(facts.DataDirectory, "postgresql.auto.conf");
        if (facts.ConninfoSource != autoConf) return (null, $"its primary_conninfo comes from {facts.ConninfoSource ?? "a file this role cannot see"}, not {autoConf}");
        Dictionary<string, string> conninfo;
        try { conninfo = Conninfo.Parse(facts.Conninfo); }
        catch (FormatException) { return (null, "its primary_conninfo could not be parsed"); }
        if (conninfo.ContainsKey("password")) return (null, "its primary_conninfo holds a password (the SSH way moves it to the passfile)");
        if (!conninfo.TryGetValue("host", out var oldHost) || oldHost.Contains(',') || conninfo.ContainsKey("hostaddr"))
            return (null, "its primary_conninfo names no single host");
        if (!conninfo.TryGetValue("passfile", out var passFile)) return (null, "its primary_conninfo names no passfile");
        var user = conninfo.GetValueOrDefault("user") is { Length: > 0 } u ? u : standby.OsUser;
        if (request.Replication is { } given && given.UserName != user) return (null, $"it logs in as {user}, not {given.UserName}");
        var oldPort = conninfo.TryGetValue("port", out var p) && int.TryParse(p, out var n) ? n : PgNode.DefaultPort;
        if (facts.RedactedPassFile is not { } passwords) return (null, $"{passFile} could not be read");
        // The same line (or one with the same password) serves the new upstream: the standby logs in as it does now.
        var now = PassFile.Find(passwords, oldHost, oldPort, user);
        if (now is null || PassFile.Find(passwords, upstream.ComputerName, upstream.Port, user) != now)
            return (null, $"{passFile} has no line for {user}@{upstream.ComputerName}:{upstream.Port} with the password it uses now");

        var oldSlot = facts.SlotName is { Length: > 0 } s ? s : null;
        var slot = SlotNames.ForFollower(standby, null, configured: oldSlot);
        var changes = new Dictionary<string, string?>();
        var before = new Dictionary<string, string?>();
        conninfo["host"] = upstream.ComputerName;
        conninfo["port"] = upstream.Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var newConninfo = Conninfo.Build(conninfo);
        if (newConninfo != facts.Conninfo) { changes["primary_conninfo"] = newConninfo; before["primary_conninfo"] = facts.Conninfo; }
        if (slot != oldSlot)
        {
            if (oldSlot is not null && facts.SlotSource != autoConf) return (null, $"its primary_slot_name comes from {facts.SlotSource ?? "a file this role cannot see"}");
            changes["primary_slot_name"] = slot;
            before["primary_slot_name"] = oldSlot;
        }
        var overTls = conninfo.GetValueOrDefault("sslmode") is "require" or "verify-ca" or "verify-full";
        return (new ReloadRepoint(changes, before, user, overTls, SyncsSlots: conninfo.ContainsKey("dbname"), oldSlot, slot,
            $"its login ({passFile}) already serves {upstream.Name}"), null);
    }

    /// <summary>ALTER SYSTEM, a reload, the wait for streaming; on failure the settings are put back and the message says so.</summary>
    public static PgNode Apply(ReloadRepoint repoint, PgNode standby, PgNode upstream, TimeSpan timeout, IOperationLog log)
    {
        var session = PgSession.Open(standby, log: log, connectTimeout: HotStandby.RunningStandbyConnectTimeout, pooled: true);
        var written = new List<string>();
        try
        {
            if (repoint.Changes.Count > 0)
            {
                Write(session, repoint.Changes, written);
                session.Scalar<bool>("SELECT pg_catalog.pg_reload_conf()");
                log.Verbose($"{standby.Name}: set {string.Join(", ", repoint.Changes.Keys)} with ALTER SYSTEM and reloaded it ({repoint.Reason}).");
            }
            HotStandby.WaitUntilStreaming(standby, upstream, timeout, log, session);
        }
        catch (Exception ex) when (ex is TimeoutException or PgConnectionException or PgQueryException)
        {
            if (written.Count == 0) throw;
            throw new InvalidOperationException(PutBack(repoint, written, standby, upstream, log, ex), ex);
        }
        finally { session.Dispose(); }
        standby.UpstreamNode = upstream;
        return standby;
    }

    /// <summary>ALTER SYSTEM of each setting (null: RESET); <paramref name="written"/> collects the names done, for a put-back.</summary>
    private static void Write(PgSession session, IReadOnlyDictionary<string, string?> settings, List<string>? written = null)
    {
        foreach (var (name, value) in settings)
        {
            session.Execute(value is null ? $"ALTER SYSTEM RESET {name}" : $"ALTER SYSTEM SET {name} = {SqlQuote.Literal(value)}");
            written?.Add(name);
        }
    }

    /// <summary>The settings written put back as they were, and a reload; the message says what happened.</summary>
    private static string PutBack(ReloadRepoint repoint, IReadOnlyList<string> written, PgNode standby, PgNode upstream, IOperationLog log, Exception cause)
    {
        var failed = $"{standby.Name} did not stream from {upstream.Name} ({cause.Message})";
        var names = string.Join(" and ", written);
        try
        {
            using var session = PgSession.Open(standby, log: log, connectTimeout: HotStandby.RunningStandbyConnectTimeout);
            Write(session, written.ToDictionary(name => name, name => repoint.Before[name]));
            session.Scalar<bool>("SELECT pg_catalog.pg_reload_conf()");
            log.Warning($"{failed}: its {names} put back as before, and reloaded.");
            return $"{failed}. Its {names} put back as before (ALTER SYSTEM, reload).";
        }
        catch (Exception ex) when (ex is PgConnectionException or PgQueryException)
        {
            return $"{failed}. Putting its {names} back failed too ({ex.Message}): it now has " +
                   string.Join(", ", written.Select(name => $"{name} = '{repoint.Changes[name]}'")) + ".";
        }
    }
}
