namespace PgReplication.Core.Model;

/// <summary>One replication slot of a node, as pg_replication_slots shows it, with the standby it serves.</summary>
public sealed class ReplicationSlotInfo
{
    /// <summary>The node that holds the slot (a primary, or a standby feeding a cascade).</summary>
    public required string Node { get; init; }
    public required string SlotName { get; init; }
    /// <summary>physical or logical.</summary>
    public required string SlotType { get; init; }
    /// <summary>A logical slot's output plugin.</summary>
    public string? Plugin { get; init; }
    /// <summary>A logical slot's database.</summary>
    public string? Database { get; init; }
    public bool Temporary { get; init; }
    public bool Active { get; init; }
    public int? ActivePid { get; init; }
    public string? RestartLsn { get; init; }
    /// <summary>reserved, extended, unreserved or lost (13+; null before).</summary>
    public string? WalStatus { get; init; }
    /// <summary>Bytes of WAL that can still be written before the slot is lost (13+, null when unlimited or before 13).</summary>
    public long? SafeWalSize { get; init; }
    /// <summary>Bytes of WAL the node keeps for this slot: its WAL position minus the slot's restart_lsn.</summary>
    public long? RetainedBytes { get; init; }
    /// <summary>
    /// The standby the slot serves: a given standby whose slot it is (its name), else the WAL sender using it
    /// (application_name@address); null when it serves no one that is known.
    /// </summary>
    public string? Serves { get; init; }
    /// <summary>The given standby node the slot belongs to, when one of them uses it.</summary>
    public PgNode? StandbyNode { get; init; }
    /// <summary>The node the slot was read from.</summary>
    public PgNode? SourceNode { get; init; }

    public override string ToString() => $"{Node}/{SlotName}";
}
