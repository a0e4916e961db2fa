using PgReplication.Core.Config;
using PgReplication.Core.Model;
using PgReplication.Core.Sql;

namespace PgReplication.Core.Operations;

/// <summary>Reads a node's <see cref="NodeAudit"/>; a node that cannot be read is an audit with Error, never an exception.</summary>
public static class Audit
{
    // Every major from 10 has these columns; rule_number and file_name (15+) are not needed.
    private const string TrustRulesQuery = """
        SELECT h.line_number, h.type, pg_catalog.array_to_string(h.database, ',') AS database,
               pg_catalog.array_to_string(h.user_name, ',') AS user_name, h.address, h.netmask
        FROM pg_catalog.pg_hba_file_rules h
        WHERE h.auth_method = 'trust' AND h.error IS NULL
        ORDER BY h.line_number
        """;

    private const string ReplicationRolesQuery = """
        SELECT DISTINCT r.usename::text AS role, a.rolsuper
        FROM pg_catalog.pg_stat_replication r
        JOIN pg_catalog.pg_roles a ON a.oid = r.usesysid
        ORDER BY 1
        """;

    private const string PrimaryQuery = """
        SELECT pg_catalog.current_setting('synchronous_standby_names') AS sync_names,
               pg_catalog.current_setting('archive_mode') IN ('on', 'always') AS archiving,
               (SELECT a.last_failed_wal FROM pg_catalog.pg_stat_archiver a) AS last_failed_wal,
               ARRAY(SELECT s.slot_name::text FROM pg_catalog.pg_replication_slots s
                     WHERE s.slot_type = 'physical' AND NOT s.active ORDER BY 1) AS inactive_slots,
               ARRAY(SELECT r.application_name FROM pg_catalog.pg_stat_replication r
                     WHERE r.sync_state IN ('sync', 'quorum') ORDER BY 1) AS sync_standbys
        """;

    public static NodeAudit Read(PgNode node, IOperationLog log)
    {
        try
        {
            using var session = PgSession.Open(node, log: log, connectTimeout: TimeSpan.FromSeconds(5));
            NodeDiscovery.Discover(node, session, NullOperationLog.Instance);
            var trust = session.Query(TrustRulesQuery).Select(TrustLine).ToList();
            if (node.Role != NodeRole.Primary)
                return new NodeAudit { Name = node.Name, Role = node.Role, TrustRules = trust, Node = node };

            var roles = session.Query(ReplicationRolesQuery);
            var primary = session.Query(PrimaryQuery).Single();
            var syncNames = primary.Text("sync_names");
            return new NodeAudit
            {
                Name = node.Name, Role = node.Role, TrustRules = trust, Node = node,
                ReplicationRoles = roles.Select(r => r.Text("role")!).ToList(),
                SuperuserReplicationRoles = roles.Where(r => r.Get<bool>("rolsuper")).Select(r => r.Text("role")!).ToList(),
                InactiveSlots = primary.Get<string[]>("inactive_slots") ?? Array.Empty<string>(),
                SynchronousStandbyNames = string.IsNullOrWhiteSpace(syncNames) ? null : syncNames,
                SynchronousRequired = SynchronousStandbyNames.RequiredCount(syncNames),
                SynchronousStandbys = primary.Get<string[]>("sync_standbys") ?? Array.Empty<string>(),
                Archiving = primary.Get<bool>("archiving"),
                ArchiverFailures = session.Scalar<long>(ReplicationCheck.ArchiverFailuresQuery),
                LastFailedWal = primary.Text("last_failed_wal"),
            };
        }
        catch (Exception ex) when (ex is PgConnectionException or PgQueryException or NotSupportedException)
        {
            return new NodeAudit { Name = node.Name, Role = node.Role, Error = ex.Message, Node = node };
        }
    }

    private static string TrustLine(SqlRow r)
    {
        var from = r.Text("address") is { } address ? " " + address + (r.Text("netmask") is { } mask ? " " + mask : "") : "";
        return $"line {r.Text("line_number")}: {r.Text("type")} {r.Text("database")} {r.Text("user_name")}{from} trust";
    }
}
