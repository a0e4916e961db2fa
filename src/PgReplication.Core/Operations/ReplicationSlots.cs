using PgReplication.Core.Model;
using PgReplication.Core.Sql;
using PgReplication.Core.Versions;

namespace PgReplication.Core.Operations;

/// <summary>A slot drop refused before anything changed; <see cref="Reason"/> is the stable part of the ErrorId.</summary>
public sealed class SlotRefusedException : RefusedException
{
    /// <summary>Reasons: SlotActive, SlotInOtherDatabase.</summary>
    public SlotRefusedException(string reason, string message) : base(reason, message) { }
}

/// <summary>What dropping one slot takes: nothing (already gone), a drop, or ending its WAL sender first (-Force).</summary>
public enum SlotDropAction { None, Drop, TerminateAndDrop }

/// <summary>The decision for one slot name, with the words -WhatIf and the verbose stream use.</summary>
public sealed record SlotDropStep(string Node, string SlotName, SlotDropAction Action, string Description);

/// <summary>The replication slots of a node: listed with the standby each serves, created, dropped.</summary>
public static class ReplicationSlots
{
    public static bool Exists(PgSession session, string slot) =>
        session.Scalar<bool>("SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_replication_slots WHERE slot_name = @slot)", ("slot", slot));

    /// <summary>Whether the upstream has the slot, asked on a pooled session: a planning read, often alongside others.</summary>
    public static bool Exists(PgNode upstream, string slot, IOperationLog log)
    {
        using var session = PgSession.Open(upstream, log: log, pooled: true);
        return Exists(session, slot);
    }

    /// <summary>Creates the slot reserving WAL at once, so nothing the standby needs is recycled before it connects.</summary>
    public static void Create(PgNode upstream, string slot, IOperationLog log)
    {
        using var session = PgSession.Open(upstream, log: log);
        Create(session, upstream, slot, log);
    }

    /// <summary>The same, over a session the caller has open to <paramref name="upstream"/>.</summary>
    public static void Create(PgSession session, PgNode upstream, string slot, IOperationLog log)
    {
        session.Execute("SELECT pg_catalog.pg_create_physical_replication_slot(@slot, true)", ("slot", slot));
        log.Verbose($"{upstream.Name}: created the physical replication slot {slot}.");
    }

    // wal_status and safe_wal_size came with max_slot_wal_keep_size (13); the WAL sender on the slot names its standby.
    private static string ListQuery(int major) => $"""
        SELECT s.slot_name::text AS slot_name, s.slot_type, s.plugin::text AS plugin, s.database::text AS database,
               s.temporary, s.active, s.active_pid, s.restart_lsn::text AS restart_lsn,
               {VersionRules.ColumnOrNull(VersionRules.SlotWalStatus, major, "s.wal_status", "text")},
               {VersionRules.ColumnOrNull(VersionRules.SlotWalStatus, major, "s.safe_wal_size", "bigint")},
               pg_catalog.pg_wal_lsn_diff({WalPosition.Expression}, s.restart_lsn)::bigint AS retained_bytes,
               r.application_name, pg_catalog.host(r.client_addr) AS client_addr
          FROM pg_catalog.pg_replication_slots s
          LEFT JOIN pg_catalog.pg_stat_replication r ON r.pid = s.active_pid
         ORDER BY s.slot_name
        """;

    /// <summary>
    /// Every slot of <paramref name="node"/>, physical and logical, each with the standby it serves: one of
    /// <paramref name="standbySlots"/> (a known standby's name and the slot it uses) when its name is that standby's
    /// slot, else the WAL sender on it.
    /// </summary>
    public static IReadOnlyList<ReplicationSlotInfo> List(PgNode node, IReadOnlyList<(PgNode Standby, string Slot)> standbySlots, IOperationLog log)
    {
        using var session = PgSession.Open(node, log: log);
        NodeDiscovery.Discover(node, session, NullOperationLog.Instance);
        return List(node, session, standbySlots);
    }

    /// <summary>The slots, read on an open session to a discovered node.</summary>
    public static IReadOnlyList<ReplicationSlotInfo> List(PgNode node, PgSession session, IReadOnlyList<(PgNode Standby, string Slot)> standbySlots)
    {
        var major = node.MajorVersion ?? VersionRules.NewestMajor;
        return session.Query(ListQuery(major)).Select(r =>
        {
            var name = r.Text("slot_name")!;
            var type = r.Text("slot_type")!;
            var owner = type == "physical" ? standbySlots.FirstOrDefault(s => s.Slot == name).Standby : null;
            return new ReplicationSlotInfo
            {
                Node = node.Name, SlotName = name, SlotType = type, Plugin = r.Text("plugin"), Database = r.Text("database"),
                Temporary = r.Get<bool>("temporary"), Active = r.Get<bool>("active"), ActivePid = r["active_pid"] as int?,
                RestartLsn = r.Text("restart_lsn"), WalStatus = r.Text("wal_status"), SafeWalSize = r["safe_wal_size"] as long?,
                RetainedBytes = r["retained_bytes"] as long?,
                Serves = ServedBy(owner?.Name, r.Text("application_name"), r.Text("client_addr")),
                StandbyNode = owner, SourceNode = node,
            };
        }).ToList();
    }

    /// <summary>Who a slot serves: the known standby whose slot it is, else the WAL sender on it (name@address), else no one.</summary>
    public static string? ServedBy(string? knownStandby, string? senderName, string? senderAddress) =>
        knownStandby ?? (senderName is null ? null : $"{senderName}@{senderAddress ?? "local"}");

    /// <summary>
    /// The slot a standby uses on its upstream, as it is configured (the receiver's slot, primary_slot_name; recovery.conf
    /// before 12), else the one the node was set up with; null when it uses none or does not answer and was not set up here.
    /// </summary>
    public static string? SlotOfStandby(PgNode standby, IOperationLog log)
    {
        try
        {
            using var session = PgSession.Open(standby, log: log, connectTimeout: TimeSpan.FromSeconds(5));
            NodeDiscovery.Discover(standby, session, NullOperationLog.Instance);
            if (standby.IsInRecovery != true) return null;
            var major = standby.MajorVersion ?? VersionRules.NewestMajor;
            var receiving = session.Scalar<string>("SELECT r.slot_name FROM pg_catalog.pg_stat_wal_receiver r");
            var configured = StandbyPositions.RecoverySettings(session, major, "primary_slot_name")["primary_slot_name"];
            return NullIfEmpty(receiving) ?? NullIfEmpty(configured) ?? standby.SlotName;
        }
        catch (Exception ex) when (ex is PgConnectionException or PgQueryException)
        {
            return standby.SlotName;
        }
    }

    /// <summary>
    /// What dropping <paramref name="slotName"/> takes, given the slot as listed (null when the node has none of that
    /// name): nothing when it is gone (a second run), a drop, or, for an active slot, only with
    /// <paramref name="force"/>, ending the WAL sender that holds it first. Pure.
    /// </summary>
    public static SlotDropStep DecideDrop(string node, string slotName, ReplicationSlotInfo? slot, string connectedDatabase, bool force)
    {
        if (slot is null)
            return new(node, slotName, SlotDropAction.None, $"{node} has no replication slot {slotName}: nothing to drop");
        if (slot.SlotType == "logical" && slot.Database is { } db && db != connectedDatabase)
            throw new SlotRefusedException(ErrorReasons.SlotInOtherDatabase,
                $"The logical slot {slotName} on {node} belongs to database '{db}', and PostgreSQL drops it only from there: " +
                $"make the node with New-PgNode -Database '{db}' and run again.");
        if (!slot.Active)
            return new(node, slotName, SlotDropAction.Drop, $"drop the inactive {slot.SlotType} slot {slotName} on {node}");
        if (!force)
            throw new SlotRefusedException(ErrorReasons.SlotActive,
                $"The {slot.SlotType} slot {slotName} on {node} is in use by {slot.Serves ?? $"process {slot.ActivePid}"}: dropping it cuts that " +
                "standby off the WAL it needs. Remove the standby first (Remove-PgStandby), or use -Force to end its WAL sender and drop the slot.");
        return new(node, slotName, SlotDropAction.TerminateAndDrop,
            $"end the WAL sender of {slot.Serves ?? $"process {slot.ActivePid}"} (pid {slot.ActivePid}) and drop the active {slot.SlotType} slot {slotName} on {node}");
    }

    /// <summary>
    /// Drops the slot as decided. An active one's WAL sender is ended first; a standby that reconnects at once may take
    /// the slot again, so that is retried for a few seconds. A slot already gone is not an error.
    /// </summary>
    public static void Drop(PgNode node, SlotDropStep step, string? database, IOperationLog log)
    {
        if (step.Action == SlotDropAction.None) { log.Verbose(step.Description + "."); return; }
        using var session = PgSession.Open(node, log: log, database: database);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (true)
        {
            if (step.Action == SlotDropAction.TerminateAndDrop)
                session.Scalar<object>("""
                    SELECT pg_catalog.pg_terminate_backend(s.active_pid) FROM pg_catalog.pg_replication_slots s
                     WHERE s.slot_name = @slot AND s.active_pid IS NOT NULL
                    """, ("slot", step.SlotName));
            try
            {
                session.Scalar<object>("SELECT pg_catalog.pg_drop_replication_slot(@slot)", ("slot", step.SlotName));
                break;
            }
            catch (PgQueryException ex) when (ex.SqlState == "42704")
            {
                break; // gone meanwhile: what was asked for
            }
            catch (PgQueryException ex) when (ex.SqlState == "55006" && step.Action == SlotDropAction.TerminateAndDrop && DateTime.UtcNow < deadline)
            {
                // 55006: still active (the WAL sender has not exited yet, or the standby took it again).
            }
            catch (PgQueryException ex) when (ex.SqlState == "55006")
            {
                throw new SlotRefusedException(ErrorReasons.SlotActive, $"The slot {step.SlotName} on {node.Name} is in use (again) and was not dropped: {ex.Message}");
            }
            if (DateTime.UtcNow >= deadline)
                throw new TimeoutException($"The slot {step.SlotName} on {node.Name} was still there after 10 s.");
            Thread.Sleep(100);
        }
        log.Verbose($"{node.Name}: {step.Description}: done.");
    }

    private static string? NullIfEmpty(string? s) => string.IsNullOrEmpty(s) ? null : s;
}
