using PgReplication.Core.Model;
using PgReplication.Core.Sql;

namespace PgReplication.Core.Operations;

/// <summary>The physical replication slots a standby uses on its upstream.</summary>
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
        session.Execute("SELECT pg_catalog.pg_create_physical_replication_slot(@slot, true)", ("slot", slot));
        log.Verbose($"{upstream.Name}: created the physical replication slot {slot}.");
    }
}
