namespace PgReplication.Core.Model;

/// <summary>One node of a cluster as Get-PgReplicationTopology shows it: where it sits and whether it runs as it should.</summary>
public sealed class TopologyRow
{
    public const string Running = "running";
    public const string Unreachable = "unreachable";
    public const string SplitBrain = "split-brain";
    public const string NoPrimary = "no primary";
    public const string NotStreaming = "not streaming";
    public const string ReplayPaused = "replay paused";
    public const string OtherCluster = "other cluster";

    public required string Name { get; init; }
    public required string ComputerName { get; init; }
    public int Port { get; init; }
    /// <summary>Primary, Standby or Unreachable.</summary>
    public NodeRole Role { get; init; }
    /// <summary>running, unreachable, split-brain, no primary, not streaming, replay paused or other cluster.</summary>
    public required string Status { get; init; }
    public bool IsHealthy => Status == Running;
    /// <summary>The upstream's Name when it is one of the given nodes, else its host:port as the standby sees it.</summary>
    public string? Upstream { get; init; }
    public int? Timeline { get; init; }
    /// <summary>A primary's current WAL position, a standby's replay position (e.g. 0/3000060).</summary>
    public string? Lsn { get; init; }
    /// <summary>Bytes the root primary has written that this standby has not replayed.</summary>
    public long? LagBytes { get; init; }
    /// <summary>The replication slot on its upstream that this standby uses.</summary>
    public string? Slot { get; init; }
    /// <summary>sync_state of the upstream's WAL sender for this standby: async, sync, potential or quorum.</summary>
    public string? SyncState { get; init; }
    /// <summary>0 for a primary (or a node whose upstream is not known), 1 for its standbys, 2 for theirs ...</summary>
    public int Depth { get; init; }
    /// <summary>The Name indented by Depth, so rows in their order read as a tree.</summary>
    public string Tree => Depth == 0 ? Name : new string(' ', 3 * (Depth - 1)) + "└─ " + Name;
    /// <summary>Why the status is not running (the connection error for an unreachable node).</summary>
    public string? Message { get; init; }
    public PgNode? Node { get; init; }
    /// <summary>"patroni" when Enable-PgAutoFailover handed the cluster to Patroni, else null (the manual cmdlets drive it).</summary>
    public string? Manager { get; init; }
    /// <summary>The Patroni leader's member name, as the members' REST API says.</summary>
    public string? Leader { get; init; }
    /// <summary>Patroni's role of this member: leader, replica, sync_standby ...</summary>
    public string? MemberRole { get; init; }
    /// <summary>Patroni's state of this member: running, streaming, starting, stopped, crashed ...</summary>
    public string? MemberState { get; init; }
    /// <summary>Patroni says a setting waits for a restart of this member.</summary>
    public bool? PendingRestart { get; init; }
}
