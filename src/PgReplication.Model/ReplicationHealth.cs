namespace PgReplication.Core.Model;

/// <summary>One named check of a standby's health.</summary>
public sealed record HealthCheck(string Name, bool Passed, string Message)
{
    public override string ToString() => $"{(Passed ? "ok  " : "FAIL")} {Name}: {Message}";
}

/// <summary>How one standby replicates from its primary, read from the servers' own views.</summary>
public sealed class ReplicationHealth
{
    public required string Standby { get; init; }
    public string? Primary { get; init; }
    /// <summary>pg_stat_replication.state (streaming, catchup, startup, backup), or stopped / unreachable.</summary>
    public string State { get; init; } = "unknown";
    public string? SentLsn { get; init; }
    public string? WriteLsn { get; init; }
    public string? FlushLsn { get; init; }
    public string? ReplayLsn { get; init; }
    /// <summary>Bytes of WAL the primary has written that the standby has not replayed.</summary>
    public long? LagBytes { get; init; }
    public TimeSpan? ReplayLag { get; init; }
    /// <summary>
    /// recovery_min_apply_delay of a delayed standby (null when it applies WAL at once): it replays late on purpose, so
    /// LagBytes is then the WAL it has not received yet, and its replay lag may exceed the threshold by the delay.
    /// </summary>
    public TimeSpan? ApplyDelay { get; init; }
    /// <summary>A delayed standby: reported as delayed, not as lagging.</summary>
    public bool Delayed => ApplyDelay > TimeSpan.Zero;
    /// <summary>async, sync, potential or quorum.</summary>
    public string? SyncState { get; init; }
    public string? SlotName { get; init; }
    public bool? SlotActive { get; init; }
    /// <summary>pg_replication_slots.wal_status (13+): reserved, extended, unreserved, lost.</summary>
    public string? SlotWalStatus { get; init; }
    public int? PrimaryTimeline { get; init; }
    public int? StandbyTimeline { get; init; }
    public IReadOnlyList<HealthCheck> Checks { get; init; } = Array.Empty<HealthCheck>();
    /// <summary>Whether the standby replicates: every check passed. Security findings do not count: they are about safety, not replication.</summary>
    public bool IsHealthy => Checks.Count > 0 && Checks.All(c => c.Passed);
    /// <summary>
    /// The security faults of this standby (a password in its primary_conninfo, a trigger file anyone can create) and of
    /// its primary (weak replication lines in pg_hba.conf, a superuser replication role), each naming the command that
    /// fixes it. Test-PgReplication writes each one once as a warning.
    /// </summary>
    public IReadOnlyList<SecurityFinding> SecurityFindings { get; init; } = Array.Empty<SecurityFinding>();
    /// <summary>The names of the failing checks, for a table column.</summary>
    public string Failing => string.Join(",", Checks.Where(c => !c.Passed).Select(c => c.Name));
    public PgNode? StandbyNode { get; init; }
    // Patroni's view, added after the check (Test-PgReplication) when Patroni manages the cluster; null otherwise.
    /// <summary>"patroni" when Patroni manages the cluster (Enable-PgAutoFailover), else null.</summary>
    public string? Manager { get; set; }
    /// <summary>The Patroni leader's member name.</summary>
    public string? Leader { get; set; }
    /// <summary>Patroni's role of the standby: replica, sync_standby ...</summary>
    public string? MemberRole { get; set; }
    /// <summary>Patroni's state of the standby: running, streaming, starting, stopped, crashed ...</summary>
    public string? MemberState { get; set; }
    /// <summary>Patroni says a setting waits for a restart of the standby.</summary>
    public bool? PendingRestart { get; set; }
    /// <summary>The standby carries Patroni's nofailover tag (a delayed standby): Patroni never promotes it.</summary>
    public bool? NoFailover { get; set; }
    public PgNode? PrimaryNode { get; init; }
}
