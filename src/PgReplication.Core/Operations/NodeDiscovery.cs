using System.Text.RegularExpressions;
using PgReplication.Core.Hosts;
using PgReplication.Core.Model;
using PgReplication.Core.Sql;
using PgReplication.Core.Versions;

namespace PgReplication.Core.Operations;

/// <summary>Fills a node from what its server says about itself.</summary>
public static class NodeDiscovery
{
    /// <summary>
    /// Everything a node says about itself, in one statement whatever its role (one round trip: a discovery
    /// rides in the health check's batch). Needs superuser or pg_read_all_settings for the paths. On a primary
    /// the current WAL file's name starts with the timeline (pg_control's copy lags until the next checkpoint
    /// after a promotion); a standby's is what it receives, or its last checkpoint's when it does not stream.
    /// pg_current_wal_lsn() fails during recovery, so it is only reached on a primary.
    /// </summary>
    public const string FactsQuery = """
        SELECT pg_catalog.current_setting('server_version_num')::int AS version_num,
               pg_catalog.current_setting('data_directory')          AS data_directory,
               pg_catalog.current_setting('config_file')             AS config_file,
               pg_catalog.current_setting('hba_file')                AS hba_file,
               pg_catalog.current_setting('cluster_name')            AS cluster_name,
               pg_catalog.current_setting('data_checksums')::bool    AS data_checksums,
               pg_catalog.pg_is_in_recovery()                        AS in_recovery,
               (SELECT s.system_identifier::text FROM pg_catalog.pg_control_system() s) AS system_identifier,
               CASE WHEN pg_catalog.pg_is_in_recovery()
                    THEN COALESCE(r.received_tli, (SELECT c.timeline_id FROM pg_catalog.pg_control_checkpoint() c))
                    ELSE ('x' || pg_catalog.substr(pg_catalog.pg_walfile_name(pg_catalog.pg_current_wal_lsn()), 1, 8))::bit(32)::int
               END AS timeline,
               r.conninfo
        FROM (SELECT 1) AS one LEFT JOIN pg_catalog.pg_stat_wal_receiver r ON true
        """;

    /// <summary>Connects and fills <paramref name="node"/>; on failure marks it Unreachable and rethrows.</summary>
    public static PgNode Discover(PgNode node, IOperationLog log, PgEndpoint? via = null)
    {
        try
        {
            using var session = PgSession.Open(node, log: log, via: via);
            Discover(node, session, log);
            return node;
        }
        catch (Exception ex) when (ex is PgConnectionException or PgQueryException)
        {
            node.Role = NodeRole.Unreachable;
            node.LastError = ex.Message;
            throw;
        }
    }

    /// <summary>
    /// Discovers a node the way it is reached: an SSH node's host is connected to first (its host key
    /// checked), and with SshOptions.UseTunnel the SQL goes through an SSH tunnel to the host's loopback.
    /// On failure the node is marked Unreachable and the exception rethrown.
    /// </summary>
    public static PgNode DiscoverReached(PgNode node, IOperationLog log)
    {
        if (node.Access != HostAccess.Ssh) return Discover(node, log);
        try
        {
            using var shell = HostShells.Open(node, log);
            return Discover(node, log, HostShells.SqlEndpoint(node, shell));
        }
        catch (Exception ex) when (ex is SshHostKeyException or HostCommandException)
        {
            node.Role = NodeRole.Unreachable;
            node.LastError = ex.Message;
            throw;
        }
    }

    public static void Discover(PgNode node, PgSession session, IOperationLog log) => Apply(node, session.Query(FactsQuery).Single(), log);

    /// <summary>Fills <paramref name="node"/> from a row of <see cref="FactsQuery"/>.</summary>
    public static void Apply(PgNode node, SqlRow row, IOperationLog log)
    {
        var versionNumber = row.Get<int>("version_num");
        node.ServerVersionNumber = versionNumber;
        node.ServerVersion = PgVersion.FromVersionNumber(versionNumber);
        PgVersion.EnsureSupported(node.ServerVersion, node.Name);
        node.DataDirectory = row.Text("data_directory");
        node.ConfigFile = row.Text("config_file");
        node.HbaFile = row.Text("hba_file");
        var cluster = row.Text("cluster_name");
        node.DataChecksums = row.Get<bool>("data_checksums");
        node.IsInRecovery = row.Get<bool>("in_recovery");
        node.SystemIdentifier = ulong.TryParse(row.Text("system_identifier"), out var id) ? id : null;
        node.Role = node.IsInRecovery == true ? NodeRole.Standby : NodeRole.Primary;
        node.Timeline = row["timeline"] is int tli ? tli : null;
        node.Upstream = node.IsInRecovery == true ? UpstreamFromConninfo(row.Text("conninfo")) : null;

        var (control, debianCluster) = ControlFromConfigFile(node.ConfigFile, node.MajorVersion ?? 0);
        node.Control = control;
        node.ClusterName = debianCluster ?? (string.IsNullOrEmpty(cluster) ? null : cluster);
        if (control == ServerControl.PgCtlCluster && node.BinDirectory is null)
            node.BinDirectory = $"/usr/lib/postgresql/{node.MajorVersion}/bin";
        node.LastError = null;
        node.DiscoveredAt = DateTimeOffset.Now;
        log.Verbose($"{node.Name}: PostgreSQL {node.ServerVersion} {node.Role}, timeline {node.Timeline}, data directory {node.DataDirectory}.");
    }

    /// <summary>Debian keeps config in /etc/postgresql/&lt;major&gt;/&lt;cluster&gt;/ and runs the server with pg_ctlcluster.</summary>
    public static (ServerControl Control, string? DebianCluster) ControlFromConfigFile(string? configFile, int major)
    {
        if (configFile is null) return (ServerControl.Unknown, null);
        var m = Regex.Match(configFile, @"^/etc/postgresql/(\d+(?:\.\d+)?)/([^/]+)/postgresql\.conf$");
        if (m.Success && m.Groups[1].Value == major.ToString(System.Globalization.CultureInfo.InvariantCulture))
            return (ServerControl.PgCtlCluster, m.Groups[2].Value);
        return (ServerControl.PgCtl, null);
    }

    /// <summary>"host:port" from a libpq conninfo string (as pg_stat_wal_receiver shows it, password obfuscated).</summary>
    public static string? UpstreamFromConninfo(string? conninfo)
    {
        var host = Conninfo.DisplayedValue(conninfo, "host") ?? Conninfo.DisplayedValue(conninfo, "hostaddr");
        if (string.IsNullOrEmpty(host)) return null;
        var port = Conninfo.DisplayedValue(conninfo, "port");
        return string.IsNullOrEmpty(port) ? host : $"{host}:{port}";
    }
}
