using PgReplication.Core.Config;
using PgReplication.Core.Model;
using PgReplication.Core.Sql;
using PgReplication.Core.Versions;

namespace PgReplication.Core.Operations;

/// <summary>A WAL sender row of pg_stat_replication (the last columns only the health check reads).</summary>
public sealed record WalSender(int Pid, string? ApplicationName, string? ClientAddr, string? State, string? SyncState, string? ReplayLsn)
{
    public string? UserName { get; init; }
    public string? SentLsn { get; init; }
    public string? WriteLsn { get; init; }
    public string? FlushLsn { get; init; }
    /// <summary>How far its replay is behind this server's WAL position (a cascade's upstream: what it received).</summary>
    public long? LagBytes { get; init; }
    public double? ReplayLagSeconds { get; init; }
    /// <summary>The slot this sender holds (its active_pid), and whether that slot is active.</summary>
    public string? SlotName { get; init; }
    public bool? SlotActive { get; init; }
}

/// <summary>A row of pg_replication_slots.</summary>
public sealed record ReplicationSlot(string Name, bool Active, int? ActivePid, string? WalStatus);

/// <summary>
/// One node's replication state as the node itself reports it (issue 17): read by <see cref="ReplicationStateReader"/>
/// with one query set, and the input of the promotion's ranking (<see cref="StandbyPosition.From"/>), the topology
/// (<see cref="Topology.ReadingOf"/>) and the health check's standby side. Plain data: the decisions are elsewhere.
/// </summary>
public sealed class ReplicationState
{
    public required PgNode Node { get; init; }
    public bool InRecovery { get; init; }
    /// <summary>transaction_read_only: "on" on a standby.</summary>
    public string? ReadOnly { get; init; }
    public string? SystemIdentifier { get; init; }
    public string? ClusterName { get; init; }
    /// <summary>The address the session reached the server at (inet_server_addr()), null over a socket.</summary>
    public string? ServerAddress { get; init; }

    /// <summary>A primary's pg_current_wal_lsn(); null in recovery.</summary>
    public string? CurrentLsn { get; init; }
    /// <summary>pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn(): null on a primary.</summary>
    public string? ReceiveLsn { get; init; }
    public string? ReplayLsn { get; init; }
    public bool ReplayPaused { get; init; }

    /// <summary>pg_stat_wal_receiver.received_tli: null when no WAL receiver runs.</summary>
    public int? ReceivedTimeline { get; init; }
    /// <summary>The last checkpoint's timeline (pg_control): only as new as the last restartpoint.</summary>
    public int? CheckpointTimeline { get; init; }
    /// <summary>The timeline replay is on by the newest history file (read only when asked, in recovery, with no receiver).</summary>
    public int? HistoryTimeline { get; init; }
    /// <summary>The setting Enable-PgAutoFailover leaves on a cluster it handed to Patroni (AutoFailoverConfig.MarkerSetting); null when not managed.</summary>
    public string? PatroniMarker { get; init; }
    /// <summary>The timeline the node is on: what it receives, else what its history says replay is on, else pg_control's.</summary>
    public int? Timeline => ReceivedTimeline ?? HistoryTimeline ?? CheckpointTimeline;
    /// <summary>A WAL receiver runs and has received something.</summary>
    public bool Receiving => ReceivedTimeline is not null;

    /// <summary>pg_stat_wal_receiver: status (null when none runs), slot, conninfo (as the server displays it), sender (11 and later).</summary>
    public string? ReceiverStatus { get; init; }
    public string? ReceiverSlot { get; init; }
    public string? ReceiverConninfo { get; init; }
    public string? SenderHost { get; init; }
    public int? SenderPort { get; init; }

    /// <summary>primary_conninfo as configured: the server setting from 12, recovery.conf's line before.</summary>
    public string? PrimaryConninfo { get; init; }
    /// <summary>primary_slot_name as configured (empty or null when none).</summary>
    public string? PrimarySlotName { get; init; }
    /// <summary>recovery_min_apply_delay as configured, unparsed (a setting from 12, recovery.conf's line before).</summary>
    public string? ApplyDelay { get; init; }
    public string? SynchronousStandbyNames { get; init; }

    /// <summary>What the security checks read: pg_settings' primary_conninfo and its file, promote_trigger_file, recovery.conf's text.</summary>
    public string? PrimaryConninfoSetting { get; init; }
    public string? PrimaryConninfoFile { get; init; }
    public string? PromoteTriggerFile { get; init; }
    public string? RecoveryConf { get; init; }

    /// <summary>Read only when asked (<see cref="ReplicationStateParts.Downstream"/>): this node's WAL senders and slots.</summary>
    public IReadOnlyList<WalSender> Senders { get; init; } = Array.Empty<WalSender>();
    public IReadOnlyList<ReplicationSlot> Slots { get; init; } = Array.Empty<ReplicationSlot>();

    /// <summary>primary_conninfo's keywords (empty when none or not parsable).</summary>
    public IReadOnlyDictionary<string, string> ConninfoValues
    {
        get
        {
            try { return string.IsNullOrEmpty(PrimaryConninfo) ? new Dictionary<string, string>() : Conninfo.Parse(PrimaryConninfo); }
            catch (FormatException) { return new Dictionary<string, string>(); }
        }
    }

    /// <summary>Where primary_conninfo points (host, else hostaddr; port), even when nothing answers there.</summary>
    public string? ConfiguredUpstreamHost => ConninfoValues.GetValueOrDefault("host") ?? ConninfoValues.GetValueOrDefault("hostaddr");
    public int? ConfiguredUpstreamPort => int.TryParse(ConninfoValues.GetValueOrDefault("port"), out var port) ? port : null;

    /// <summary>The slot the standby streams through: the receiver's, else the configured one.</summary>
    public string? Slot => ReceiverSlot ?? (string.IsNullOrEmpty(PrimarySlotName) ? null : PrimarySlotName);
}

/// <summary>What a read includes beyond the node's own state.</summary>
[Flags]
public enum ReplicationStateParts
{
    Own = 0,
    /// <summary>pg_stat_replication and pg_replication_slots: what the node serves (a primary, or a cascade's upstream).</summary>
    Downstream = 1,
    /// <summary>In recovery with no receiver: the timeline replay is on, from the newest history file (pg_control's lags).</summary>
    HistoryTimeline = 2,
}

/// <summary>
/// The one reader of a node's replication state (issue 17): one query set per major (version rules as data), the
/// same SQL text for the synchronous entry point (promotion, follow, topology: a few statements on their own
/// threads) and the asynchronous one (the health check, many nodes at once).
/// </summary>
public static class ReplicationStateReader
{
    /// <summary>
    /// The node's own state, one row whatever its role (a standby that does not stream has no receiver row). The
    /// recovery settings come from pg_settings, which hides what the role may not see instead of failing; before 12
    /// they are in recovery.conf (<see cref="SecurityChecks.RecoveryConfQuery"/>). A null major: the columns every
    /// supported major has.
    /// </summary>
    public static string StateQuery(int? major)
    {
        var m = major ?? VersionRules.OldestMajor;
        return $$"""
            SELECT pg_catalog.pg_is_in_recovery() AS in_recovery,
                   pg_catalog.current_setting('transaction_read_only') AS read_only,
                   CASE WHEN NOT pg_catalog.pg_is_in_recovery() THEN pg_catalog.pg_current_wal_lsn()::text END AS current_lsn,
                   CASE WHEN pg_catalog.pg_is_in_recovery() THEN pg_catalog.pg_last_wal_receive_lsn()::text END AS standby_receive_lsn,
                   CASE WHEN pg_catalog.pg_is_in_recovery() THEN pg_catalog.pg_last_wal_replay_lsn()::text END AS standby_replay_lsn,
                   CASE WHEN pg_catalog.pg_is_in_recovery() THEN pg_catalog.pg_is_wal_replay_paused() ELSE false END AS replay_paused,
                   r.status AS receiver_status, r.slot_name AS receiver_slot, r.conninfo, r.received_tli,
                   {{VersionRules.ColumnOrNull(VersionRules.WalReceiverSenderHost, m, "r.sender_host", "text")}},
                   {{VersionRules.ColumnOrNull(VersionRules.WalReceiverSenderHost, m, "r.sender_port", "int")}},
                   (SELECT c.timeline_id FROM pg_catalog.pg_control_checkpoint() c) AS checkpoint_timeline,
                   (SELECT s.system_identifier::text FROM pg_catalog.pg_control_system() s) AS system_identifier,
                   pg_catalog.current_setting('cluster_name') AS cluster_name, pg_catalog.host(pg_catalog.inet_server_addr()) AS server_addr,
                   pg_catalog.current_setting('synchronous_standby_names') AS sync_names,
                   pg_catalog.current_setting('primary_slot_name', true) AS primary_slot_name,
                   pg_catalog.current_setting('recovery_min_apply_delay', true) AS apply_delay,
                   pg_catalog.current_setting('{{AutoFailoverConfig.MarkerSetting}}', true) AS patroni_marker,
                   {{SecurityChecks.SettingsColumns}}
            FROM (SELECT 1) AS one LEFT JOIN pg_catalog.pg_stat_wal_receiver r ON true
            CROSS JOIN {{SecurityChecks.SettingsRelation}}
            """;
    }

    /// <summary>The node's WAL senders to standbys (not a subscriber's, on a logical slot), each with the slot it holds (active_pid).</summary>
    public const string SendersQuery = $$"""
        SELECT r.pid, r.application_name, pg_catalog.host(r.client_addr) AS client_addr, r.state, r.usename::text AS usename,
               r.sent_lsn::text AS sent_lsn, r.write_lsn::text AS write_lsn, r.flush_lsn::text AS flush_lsn,
               r.replay_lsn::text AS replay_lsn,
               pg_catalog.pg_wal_lsn_diff({{WalPosition.Expression}}, r.replay_lsn)::bigint AS lag_bytes,
               EXTRACT(epoch FROM r.replay_lag)::float8 AS replay_lag_seconds, r.sync_state,
               s.slot_name::text AS slot_name, s.active AS slot_active
        FROM pg_catalog.pg_stat_replication r
        LEFT JOIN pg_catalog.pg_replication_slots s ON s.active_pid = r.pid
        WHERE s.slot_type IS DISTINCT FROM 'logical' -- a subscriber's WAL sender is no standby
        """;

    /// <summary>The node's slots; wal_status from 13 (SlotWalStatus), NULL before.</summary>
    public static string SlotsQuery(int? major) => $"""
        SELECT s.slot_name::text AS slot_name, s.active, s.active_pid,
               {VersionRules.ColumnOrNull(VersionRules.SlotWalStatus, major ?? VersionRules.OldestMajor, "s.wal_status", "text")}
        FROM pg_catalog.pg_replication_slots s
        """;

    // The standby's own newest timeline history file: its lineage, as far as it knows it.
    private const string NewestHistoryQuery = """
        SELECT w.name, pg_catalog.pg_read_file('pg_wal/' || w.name, 0, 10485760, true) AS content
          FROM pg_catalog.pg_ls_waldir() w
         WHERE w.name ~ '^[0-9A-F]{8}\.history$'
         ORDER BY w.name DESC LIMIT 1
        """;

    /// <summary>Whether <paramref name="major"/> keeps its recovery settings in recovery.conf (before 12); an unknown major does not.</summary>
    private static bool UsesRecoveryConf(int? major) => major is { } m && !StandbyConfigRules.UsesStandbySignal(m);

    /// <summary>
    /// Reads <paramref name="node"/>'s state on <paramref name="session"/>, statement after statement (the caller's
    /// thread waits). Before 12 a standby's recovery.conf is read too, and its refusal fails the read.
    /// </summary>
    public static ReplicationState Read(PgSession session, PgNode node, ReplicationStateParts parts = ReplicationStateParts.Own)
    {
        var major = node.MajorVersion;
        var withHistory = parts.HasFlag(ReplicationStateParts.HistoryTimeline);
        SqlRow state;
        IReadOnlyList<SqlRow>? newestHistory = null;
        if (withHistory)
        {
            // With the state, in one round trip, whether it is needed or not: a promotion reads its candidates this
            // way right after a crash, when each round trip is a wait on a loaded host (issue 19, case 2b). Null when
            // the role may not list pg_wal (pg_ls_waldir needs superuser or pg_monitor).
            var results = session.QueryBatchAsync(new[] { StateQuery(major) }, NewestHistoryQuery).GetAwaiter().GetResult();
            (state, newestHistory) = (results[0]!.Single(), results[1]);
        }
        else state = session.Query(StateQuery(major)).Single();
        var inRecovery = state.Get<bool>("in_recovery");
        var recoveryConf = inRecovery && UsesRecoveryConf(major) ? session.Query(SecurityChecks.RecoveryConfQuery).Single().Text("recovery_conf") : null;
        var downstream = parts.HasFlag(ReplicationStateParts.Downstream);
        var senders = downstream ? session.Query(SendersQuery) : null;
        var slots = downstream ? session.Query(SlotsQuery(major)) : null;
        var history = withHistory && inRecovery && state["received_tli"] is null
            ? HistoryTimeline(newestHistory?.SingleOrDefault(), Lsn.Parse(state.Text("standby_replay_lsn")) ?? 0) : null;
        return FromRows(node, state, recoveryConf, senders, slots, history);
    }

    /// <summary>
    /// The node's own state without a thread waiting on the socket, in one round trip: before 12 recovery.conf rides
    /// along and is null where the role may not read it (the health check reads many nodes at once this way).
    /// </summary>
    public static async Task<ReplicationState> ReadAsync(PgSession session, PgNode node)
    {
        if (UsesRecoveryConf(node.MajorVersion))
        {
            var results = await session.QueryBatchAsync(new[] { StateQuery(node.MajorVersion) }, SecurityChecks.RecoveryConfQuery).ConfigureAwait(false);
            return FromRows(node, results[0]!.Single(), results[1]?.Single().Text("recovery_conf"));
        }
        return FromRows(node, (await session.QueryAsync(StateQuery(node.MajorVersion)).ConfigureAwait(false)).Single(), null);
    }

    /// <summary>
    /// The record from the rows of the query set (no I/O): recovery settings from recovery.conf's text before 12, from
    /// the server's settings from 12 (and when the major is not known).
    /// </summary>
    public static ReplicationState FromRows(PgNode node, SqlRow state, string? recoveryConf, IEnumerable<SqlRow>? senders = null,
        IEnumerable<SqlRow>? slots = null, int? historyTimeline = null)
    {
        var fromFile = UsesRecoveryConf(node.MajorVersion);
        var file = fromFile && recoveryConf is not null ? OfflineSettings.Read(recoveryConf) : null;
        string? Recovery(string name, string column) => fromFile ? file?.GetValueOrDefault(name) : state.Text(column);
        return new ReplicationState
        {
            Node = node,
            InRecovery = state["in_recovery"] is true,
            ReadOnly = state.Text("read_only"),
            SystemIdentifier = state.Text("system_identifier"),
            ClusterName = state.Text("cluster_name"),
            ServerAddress = state.Text("server_addr"),
            CurrentLsn = state.Text("current_lsn"),
            ReceiveLsn = state.Text("standby_receive_lsn"),
            ReplayLsn = state.Text("standby_replay_lsn"),
            ReplayPaused = state["replay_paused"] is true,
            ReceivedTimeline = state["received_tli"] as int?,
            CheckpointTimeline = state["checkpoint_timeline"] as int?,
            HistoryTimeline = historyTimeline,
            ReceiverStatus = state.Text("receiver_status"),
            ReceiverSlot = state.Text("receiver_slot"),
            ReceiverConninfo = state.Text("conninfo"),
            SenderHost = state.Text("sender_host"),
            SenderPort = state["sender_port"] as int?,
            PrimaryConninfo = Recovery("primary_conninfo", "primary_conninfo_setting"),
            PrimarySlotName = Recovery("primary_slot_name", "primary_slot_name"),
            ApplyDelay = Recovery("recovery_min_apply_delay", "apply_delay"),
            SynchronousStandbyNames = state.Text("sync_names"),
            PatroniMarker = state.Text("patroni_marker"),
            PrimaryConninfoSetting = state.Text("primary_conninfo_setting"),
            PrimaryConninfoFile = state.Text("primary_conninfo_file"),
            PromoteTriggerFile = state.Text("promote_trigger_file"),
            RecoveryConf = recoveryConf,
            Senders = senders?.Select(SenderOf).ToList() ?? (IReadOnlyList<WalSender>)Array.Empty<WalSender>(),
            Slots = slots?.Select(r => new ReplicationSlot(r.Text("slot_name")!, r.Get<bool>("active"), r["active_pid"] as int?, r.Text("wal_status"))).ToList()
                    ?? (IReadOnlyList<ReplicationSlot>)Array.Empty<ReplicationSlot>(),
        };
    }

    /// <summary>A row of <see cref="SendersQuery"/>.</summary>
    public static WalSender SenderOf(SqlRow r) =>
        new(r.Get<int>("pid"), r.Text("application_name"), r.Text("client_addr"), r.Text("state"), r.Text("sync_state"), r.Text("replay_lsn"))
        {
            UserName = r.Text("usename"), SentLsn = r.Text("sent_lsn"), WriteLsn = r.Text("write_lsn"), FlushLsn = r.Text("flush_lsn"),
            LagBytes = r["lag_bytes"] as long?, ReplayLagSeconds = r["replay_lag_seconds"] as double?,
            SlotName = r.Text("slot_name"), SlotActive = r["slot_active"] as bool?,
        };

    /// <summary>
    /// The timeline a standby's replay is on when no WAL receiver runs (its primary is gone): pg_control's copy is
    /// only as new as the last restartpoint. Its newest history file lists the timelines it went through and where
    /// each ended; the replay position says which one it is on. Null when unknown.
    /// </summary>
    /// <param name="newest">The row of <see cref="NewestHistoryQuery"/>: null when there is no history file, or it could not be listed.</param>
    private static int? HistoryTimeline(SqlRow? newest, ulong replayed)
    {
        if (newest is null || !int.TryParse(newest.Text("name")![..8], System.Globalization.NumberStyles.HexNumber, null, out var newestTimeline))
            return null;
        return TimelineHistory.TimelineAt(TimelineHistory.Parse(newest.Text("content")), newestTimeline, replayed);
    }
}
