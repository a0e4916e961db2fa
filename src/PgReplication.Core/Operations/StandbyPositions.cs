using PgReplication.Core.Config;
using PgReplication.Core.Model;
using PgReplication.Core.Sql;
using PgReplication.Core.Versions;

namespace PgReplication.Core.Operations;

/// <summary>How far a standby has got, read from the server itself: what promotion chooses by.</summary>
public sealed class StandbyPosition
{
    public required PgNode Node { get; init; }
    public bool Reachable { get; init; }
    public bool InRecovery { get; init; }
    public int? Timeline { get; init; }
    public string? ReceiveLsn { get; init; }
    public string? ReplayLsn { get; init; }
    public bool ReplayPaused { get; init; }
    /// <summary>recovery_min_apply_delay: a delayed standby is never promoted unless named.</summary>
    public TimeSpan ApplyDelay { get; init; }
    /// <summary>The application_name in its primary_conninfo: the name synchronous_standby_names refers to.</summary>
    public string? ApplicationName { get; init; }
    /// <summary>The upstream in its primary_conninfo (host, port), even when that upstream is gone.</summary>
    public string? UpstreamHost { get; init; }
    public int? UpstreamPort { get; init; }
    /// <summary>synchronous_standby_names as this node has it (copied from the primary with the base backup).</summary>
    public string? SynchronousStandbyNames { get; init; }
    public string? Error { get; init; }

    /// <summary>The furthest WAL position this standby holds: received or replayed, whichever is ahead.</summary>
    public ulong Position => Math.Max(Lsn.Parse(ReceiveLsn) ?? 0, Lsn.Parse(ReplayLsn) ?? 0);

    public override string ToString() => Reachable
        ? $"{Node.Name}: timeline {Timeline}, received {ReceiveLsn ?? "-"}, replayed {ReplayLsn ?? "-"}{(ReplayPaused ? ", replay paused" : "")}" +
          (ApplyDelay > TimeSpan.Zero ? $", delayed by {StandbyReplay.Describe(ApplyDelay)}" : "")
        : $"{Node.Name}: unreachable ({Error})";
}

/// <summary>Reads standbys' positions and recovery settings over SQL (no shell needed).</summary>
public static class StandbyPositions
{
    private const string PositionQuery = """
        SELECT pg_catalog.pg_is_in_recovery() AS in_recovery,
               CASE WHEN pg_catalog.pg_is_in_recovery() THEN pg_catalog.pg_last_wal_receive_lsn()::text END AS receive_lsn,
               CASE WHEN pg_catalog.pg_is_in_recovery() THEN pg_catalog.pg_last_wal_replay_lsn()::text END AS replay_lsn,
               CASE WHEN pg_catalog.pg_is_in_recovery() THEN pg_catalog.pg_is_wal_replay_paused() ELSE false END AS paused,
               COALESCE((SELECT r.received_tli FROM pg_catalog.pg_stat_wal_receiver r),
                        (SELECT c.timeline_id FROM pg_catalog.pg_control_checkpoint() c)) AS timeline,
               pg_catalog.current_setting('synchronous_standby_names') AS sync_names,
               pg_catalog.current_setting('primary_conninfo', true) AS primary_conninfo,
               pg_catalog.current_setting('recovery_min_apply_delay', true) AS apply_delay,
               EXISTS (SELECT 1 FROM pg_catalog.pg_stat_wal_receiver r WHERE r.received_tli IS NOT NULL) AS receiving
        """;

    // The standby's own newest timeline history file: its lineage, as far as it knows it.
    private const string NewestHistoryQuery = """
        SELECT w.name, pg_catalog.pg_read_file('pg_wal/' || w.name, 0, 10485760, true) AS content
          FROM pg_catalog.pg_ls_waldir() w
         WHERE w.name ~ '^[0-9A-F]{8}\.history$'
         ORDER BY w.name DESC LIMIT 1
        """;

    /// <param name="pooled">Leave the connection in the pool for the step that follows (a promotion's pg_promote).</param>
    public static StandbyPosition Read(PgNode node, IOperationLog log, TimeSpan? connectTimeout = null, bool pooled = false)
    {
        try
        {
            using var session = PgSession.Open(node, log: log, connectTimeout: connectTimeout, pooled: pooled);
            var row = session.Query(PositionQuery).Single();
            var inRecovery = row.Get<bool>("in_recovery");
            var conninfo = inRecovery ? ConninfoOf(session, node, row.Text("primary_conninfo")) : new Dictionary<string, string>();
            var timeline = row["timeline"] is int tli ? tli : (int?)null;
            if (inRecovery && !row.Get<bool>("receiving")) timeline = ReplayTimeline(session, Lsn.Parse(row.Text("replay_lsn")) ?? 0) ?? timeline;
            return new StandbyPosition
            {
                Node = node, Reachable = true, InRecovery = inRecovery,
                Timeline = timeline,
                ReceiveLsn = row.Text("receive_lsn"), ReplayLsn = row.Text("replay_lsn"),
                ReplayPaused = row.Get<bool>("paused"),
                ApplyDelay = !inRecovery ? TimeSpan.Zero : StandbyReplay.ParseDelay(StandbyConfigRules.UsesStandbySignal(node.MajorVersion ?? VersionRules.NewestMajor)
                    ? row.Text("apply_delay") : RecoverySettings(session, node.MajorVersion!.Value, "recovery_min_apply_delay")["recovery_min_apply_delay"]),
                SynchronousStandbyNames = row.Text("sync_names"),
                ApplicationName = conninfo.GetValueOrDefault("application_name"),
                UpstreamHost = conninfo.GetValueOrDefault("host") ?? conninfo.GetValueOrDefault("hostaddr"),
                UpstreamPort = int.TryParse(conninfo.GetValueOrDefault("port"), out var port) ? port : null,
            };
        }
        catch (Exception ex) when (ex is PgConnectionException or PgQueryException)
        {
            return new StandbyPosition { Node = node, Reachable = false, Error = ex.Message };
        }
    }

    /// <summary>
    /// The timeline a standby's replay is on when no WAL receiver runs (its primary is gone): pg_control's
    /// copy is only as new as the last restartpoint. Its newest history file lists the timelines it went
    /// through and where each ended; the replay position says which one it is on. Null when unknown.
    /// </summary>
    private static int? ReplayTimeline(PgSession session, ulong replayed)
    {
        SqlRow? newest;
        try { newest = session.Query(NewestHistoryQuery).SingleOrDefault(); }
        catch (PgQueryException) { return null; } // pg_ls_waldir needs superuser or pg_monitor
        if (newest is null || !int.TryParse(newest.Text("name")![..8], System.Globalization.NumberStyles.HexNumber, null, out var newestTimeline))
            return null;
        return TimelineHistory.TimelineAt(TimelineHistory.Parse(newest.Text("content")), newestTimeline, replayed);
    }

    /// <summary>
    /// The primary_conninfo the standby is configured with, parsed: from 12 the server setting the position
    /// query already read (one round trip less before a promotion), before 12 recovery.conf's line.
    /// </summary>
    private static Dictionary<string, string> ConninfoOf(PgSession session, PgNode node, string? setting)
    {
        var major = node.MajorVersion ?? VersionRules.NewestMajor;
        var conninfo = StandbyConfigRules.UsesStandbySignal(major) ? setting : RecoverySettings(session, major, "primary_conninfo")["primary_conninfo"];
        try { return string.IsNullOrEmpty(conninfo) ? new() : Conninfo.Parse(conninfo); }
        catch (FormatException) { return new(); }
    }

    /// <summary>
    /// Recovery settings as the standby has them (null when not set): server settings from 12, lines of
    /// recovery.conf before (read over SQL, so no shell is needed).
    /// </summary>
    internal static Dictionary<string, string?> RecoverySettings(PgSession session, int major, params string[] names)
    {
        if (StandbyConfigRules.UsesStandbySignal(major))
            return names.ToDictionary(n => n, n => session.Scalar<string>("SELECT pg_catalog.current_setting(@name, true)", ("name", n)));
        var text = session.Scalar<string>("SELECT pg_catalog.pg_read_file('recovery.conf', 0, 1048576, true)");
        var file = OfflineSettings.Read(text ?? "");
        return names.ToDictionary(n => n, n => (string?)file.GetValueOrDefault(n));
    }

    /// <summary>
    /// Whether a server answers at host:port as a primary: true (a primary), false (nothing answers, or
    /// it is in recovery), null (a server answers but refuses our login: it is up, its role unknown).
    /// </summary>
    public static bool? AnswersAsPrimary(PgNode node, IOperationLog log, TimeSpan timeout)
    {
        try
        {
            using var session = PgSession.Open(node, log: log, connectTimeout: timeout);
            return !session.Scalar<bool>("SELECT pg_catalog.pg_is_in_recovery()");
        }
        catch (PgConnectionException ex) when (ex.ServerAnswered) { return null; }
        catch (PgConnectionException) { return false; }
    }
}
