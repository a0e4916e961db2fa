using System.Net;

namespace PgReplication.Core.Model;

/// <summary>What a node is, as far as replication is concerned.</summary>
public enum NodeRole
{
    /// <summary>Not discovered (created with -NoConnect, or not yet asked).</summary>
    Unknown,
    /// <summary>Accepts writes: not in recovery.</summary>
    Primary,
    /// <summary>In recovery (a streaming or archive-replaying standby).</summary>
    Standby,
    /// <summary>Discovery was tried and the server did not answer.</summary>
    Unreachable,
}

/// <summary>How the host that runs the node is reached for commands and files.</summary>
public enum HostAccess
{
    /// <summary>This machine: programs run here, as this user or through runuser/sudo.</summary>
    Local,
    /// <summary>Another machine, over SSH.</summary>
    Ssh,
}

/// <summary>How the server is started, stopped and restarted on its host.</summary>
public enum ServerControl
{
    /// <summary>Not known yet.</summary>
    Unknown,
    /// <summary>Debian's wrapper: pg_ctlcluster &lt;major&gt; &lt;cluster&gt;.</summary>
    PgCtlCluster,
    /// <summary>Upstream: pg_ctl -D &lt;data directory&gt;.</summary>
    PgCtl,
}

/// <summary>
/// One PostgreSQL server and the host it runs on. Discovery fills it from the server
/// itself (SHOW data_directory, pg_control_system(), ...), never from guessed paths.
/// </summary>
public sealed class PgNode
{
    public PgNode(string computerName, int port = DefaultPort)
    {
        if (string.IsNullOrWhiteSpace(computerName))
            throw new ArgumentException("A node needs a computer name.", nameof(computerName));
        ComputerName = computerName;
        Port = port;
        Name = port == DefaultPort ? computerName : $"{computerName}:{port}";
    }

    public const int DefaultPort = 5432;

    /// <summary>The name users see and pass to -Name; defaults to ComputerName[:Port].</summary>
    public string Name { get; set; }
    public string ComputerName { get; }
    public int Port { get; }
    public NodeRole Role { get; set; } = NodeRole.Unknown;

    /// <summary>The server's version, e.g. 15.18 (from server_version_num).</summary>
    public Version? ServerVersion { get; set; }
    /// <summary>server_version_num as the server reports it, e.g. 150018.</summary>
    public int? ServerVersionNumber { get; set; }
    /// <summary>The major version: 15 for 15.18, 9.6 is reported as 9.</summary>
    public int? MajorVersion => ServerVersion?.Major;

    public string? DataDirectory { get; set; }
    public string? ConfigFile { get; set; }
    public string? HbaFile { get; set; }
    public string? ClusterName { get; set; }
    /// <summary>pg_control_system().system_identifier: equal on a primary and its standbys.</summary>
    public ulong? SystemIdentifier { get; set; }
    public int? Timeline { get; set; }
    public bool? IsInRecovery { get; set; }
    public bool? DataChecksums { get; set; }
    /// <summary>For a standby: the upstream it streams from (host:port), from pg_stat_wal_receiver.</summary>
    public string? Upstream { get; set; }
    /// <summary>For a standby built by this module: the node it follows (set by Invoke-PgBaseBackup).</summary>
    public PgNode? UpstreamNode { get; set; }
    /// <summary>The physical replication slot on the upstream that this standby uses, if any.</summary>
    public string? SlotName { get; set; }

    public ServerControl Control { get; set; } = ServerControl.Unknown;
    /// <summary>Where pg_ctl, pg_basebackup ... of this server's major live on its host, once found.</summary>
    public string? BinDirectory { get; set; }

    public HostAccess Access { get; set; } = HostAccess.Local;
    /// <summary>The SSH settings when Access is Ssh.</summary>
    public SshOptions? Ssh { get; set; }
    /// <summary>OS user that owns the server's files and runs it (postgres).</summary>
    public string OsUser { get; set; } = "postgres";

    /// <summary>The PostgreSQL role used to discover and manage the node.</summary>
    public NetworkCredential? AdminCredential { get; set; }

    /// <summary>
    /// Nodes of one cluster have the same roles (a standby is a copy of its primary): each node given without an admin
    /// credential takes the first one any of them has.
    /// </summary>
    public static void ShareAdminCredential(params PgNode[] nodes)
    {
        var known = nodes.Select(n => n.AdminCredential).FirstOrDefault(c => c is not null);
        foreach (var node in nodes) node.AdminCredential ??= known;
    }
    /// <summary>The replication role, carried along the pipeline by New-PgReplicationUser.</summary>
    public NetworkCredential? ReplicationCredential { get; set; }
    public string Database { get; set; } = "postgres";
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Why discovery failed, when Role is Unreachable.</summary>
    public string? LastError { get; set; }
    public DateTimeOffset? DiscoveredAt { get; set; }

    /// <summary>"local" or "ssh user@host:port": how the node is reached.</summary>
    public string ReachedBy => Access == HostAccess.Local
        ? "local"
        : $"ssh {Ssh?.User ?? "?"}@{ComputerName}:{Ssh?.Port ?? 22}";

    public override string ToString() => Name;
}
