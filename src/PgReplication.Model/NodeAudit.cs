namespace PgReplication.Core.Model;

/// <summary>
/// What the acceptance kit reads from one node beside its replication state: the pg_hba.conf rules that trust
/// anyone, its security findings, and on a primary the roles its standbys log in as, its slots, synchronous
/// standbys and archiver.
/// Plain readings: the kit's Pester tests decide what passes.
/// </summary>
public sealed class NodeAudit
{
    public required string Name { get; init; }
    public NodeRole Role { get; init; }
    /// <summary>Why the node could not be read; null when it was.</summary>
    public string? Error { get; init; }
    /// <summary>pg_hba_file_rules with auth_method trust, as "line 92: host all all 10.0.0.0/8 trust".</summary>
    public IReadOnlyList<string> TrustRules { get; init; } = Array.Empty<string>();

    // A primary's readings (empty on a standby).
    /// <summary>The roles the connected standbys log in as (pg_stat_replication.usename).</summary>
    public IReadOnlyList<string> ReplicationRoles { get; init; } = Array.Empty<string>();
    /// <summary>Those of <see cref="ReplicationRoles"/> that are superusers.</summary>
    public IReadOnlyList<string> SuperuserReplicationRoles { get; init; } = Array.Empty<string>();
    /// <summary>Physical replication slots no standby uses: each holds back WAL on the primary.</summary>
    public IReadOnlyList<string> InactiveSlots { get; init; } = Array.Empty<string>();
    /// <summary>Every slot, physical and logical: the kit flags those that serve no standby it was given.</summary>
    public IReadOnlyList<ReplicationSlotInfo> Slots { get; init; } = Array.Empty<ReplicationSlotInfo>();
    public string? SynchronousStandbyNames { get; init; }
    /// <summary>How many synchronous standbys synchronous_standby_names asks for (0: asynchronous).</summary>
    public int SynchronousRequired { get; init; }
    /// <summary>application_name of the WAL senders whose sync_state is sync or quorum.</summary>
    public IReadOnlyList<string> SynchronousStandbys { get; init; } = Array.Empty<string>();
    /// <summary>archive_mode is on or always.</summary>
    public bool Archiving { get; init; }
    /// <summary>Failed archiving attempts since the last success.</summary>
    public long ArchiverFailures { get; init; }
    public string? LastFailedWal { get; init; }

    /// <summary>
    /// Security faults, each naming the command that fixes it: a password in primary_conninfo, a trigger file anyone can
    /// create, weak replication lines and superuser replication roles (a primary's), and configuration files or passfiles
    /// other users can read (through the host's shell).
    /// </summary>
    public IReadOnlyList<SecurityFinding> SecurityFindings { get; init; } = Array.Empty<SecurityFinding>();
    /// <summary>Why the files' modes could not be read (no shell to the host); null when they were.</summary>
    public string? FilesError { get; init; }
    public PgNode? Node { get; init; }
}
