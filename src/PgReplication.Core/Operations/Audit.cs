using PgReplication.Core.Config;
using PgReplication.Core.Hosts;
using PgReplication.Core.Model;
using PgReplication.Core.Sql;
using PgReplication.Core.Versions;

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
        SELECT r.usename::text AS role, pg_catalog.bool_or(a.rolsuper) AS rolsuper,
               pg_catalog.string_agg(DISTINCT r.application_name || '@' || COALESCE(pg_catalog.host(r.client_addr), 'local'), ', ') AS standbys
        FROM pg_catalog.pg_stat_replication r
        JOIN pg_catalog.pg_roles a ON a.oid = r.usesysid
        GROUP BY r.usename
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

    /// <param name="node">The node to read.</param>
    /// <param name="log">Where progress goes.</param>
    /// <param name="primary">The name of the primary a standby follows, for the fixes its findings name.</param>
    public static NodeAudit Read(PgNode node, IOperationLog log, string? primary = null)
    {
        try
        {
            using var session = PgSession.Open(node, log: log, connectTimeout: TimeSpan.FromSeconds(5));
            NodeDiscovery.Discover(node, session, NullOperationLog.Instance);
            var trust = session.Query(TrustRulesQuery).Select(TrustLine).ToList();
            var (findings, filesError) = SecurityFindings(node, session, primary ?? node.UpstreamNode?.Name ?? node.Upstream, log);
            if (node.Role != NodeRole.Primary)
                return new NodeAudit { Name = node.Name, Role = node.Role, TrustRules = trust, SecurityFindings = findings, FilesError = filesError, Node = node };

            var roles = session.Query(ReplicationRolesQuery);
            var superusers = session.Query(SecurityChecks.SuperusersQuery).ToDictionary(r => r.Text("role")!, r => r.Get<bool>("bootstrap"), StringComparer.Ordinal);
            findings.AddRange(SecurityChecks.WeakReplicationLines(node.Name, node.HbaFile,
                session.Query(SecurityChecks.WeakReplicationLinesQuery(node.MajorVersion ?? VersionRules.NewestMajor)).Select(HbaRuleRow.From)));
            findings.AddRange(SecurityChecks.SuperuserRoles(node.Name, superusers, node.AdminCredential?.UserName,
                roles.Select(r => (r.Text("role")!, r.Text("standbys") ?? ""))));
            var primaryRow = session.Query(PrimaryQuery).Single();
            var syncNames = primaryRow.Text("sync_names");
            return new NodeAudit
            {
                Name = node.Name, Role = node.Role, TrustRules = trust, SecurityFindings = findings, FilesError = filesError, Node = node,
                ReplicationRoles = roles.Select(r => r.Text("role")!).ToList(),
                SuperuserReplicationRoles = roles.Where(r => r.Get<bool>("rolsuper")).Select(r => r.Text("role")!).ToList(),
                InactiveSlots = primaryRow.Get<string[]>("inactive_slots") ?? Array.Empty<string>(),
                SynchronousStandbyNames = string.IsNullOrWhiteSpace(syncNames) ? null : syncNames,
                SynchronousRequired = SynchronousStandbyNames.RequiredCount(syncNames),
                SynchronousStandbys = primaryRow.Get<string[]>("sync_standbys") ?? Array.Empty<string>(),
                Archiving = primaryRow.Get<bool>("archiving"),
                ArchiverFailures = session.Scalar<long>(ReplicationCheck.ArchiverFailuresQuery),
                LastFailedWal = primaryRow.Text("last_failed_wal"),
                Slots = ReplicationSlots.List(node, session, Array.Empty<(PgNode, string)>()),
            };
        }
        catch (Exception ex) when (ex is PgConnectionException or PgQueryException or NotSupportedException)
        {
            return new NodeAudit { Name = node.Name, Role = node.Role, Error = ex.Message, Node = node };
        }
    }

    /// <summary>
    /// The node's own findings: a password in primary_conninfo and a shared trigger file (from its settings, recovery.conf
    /// before 12), and the files other users can read, through its host's shell (which also gives the trigger file's
    /// directory its real mode). A shell that cannot be had is said in the second value, and leaves the files unread.
    /// </summary>
    private static (List<SecurityFinding> Findings, string? FilesError) SecurityFindings(PgNode node, PgSession session, string? primary, IOperationLog log)
    {
        var major = node.MajorVersion ?? VersionRules.NewestMajor;
        var row = session.Query($"SELECT {SecurityChecks.SettingsColumns} FROM {SecurityChecks.SettingsRelation}").Single();
        var recoveryConf = StandbyConfigRules.UsesStandbySignal(major) || node.IsInRecovery != true ? null
            : session.Query(SecurityChecks.RecoveryConfQuery).Single().Text("recovery_conf");
        var settings = SecurityChecks.Settings(major, node.DataDirectory, row, recoveryConf);
        var findings = new List<SecurityFinding>();
        var inRecovery = node.IsInRecovery == true;
        if (SecurityChecks.PasswordInConninfo(node.Name, inRecovery, primary, major, settings) is { } password) findings.Add(password);

        bool? triggerWorldWritable = null;
        string? filesError = null;
        try
        {
            using var shell = HostShells.Open(node, log);
            var (files, worldWritable) = SecurityChecks.ReadFiles(node, shell, settings, primary);
            findings.AddRange(files);
            triggerWorldWritable = worldWritable;
        }
        catch (Exception ex) when (ex is HostCommandException or SshHostKeyException or InvalidOperationException or ArgumentException or IOException)
        {
            filesError = $"the files on {node.Name} could not be looked at: {ex.Message}";
        }
        if (inRecovery && SecurityChecks.TriggerFile(node.Name, primary, major, settings, triggerWorldWritable) is { } trigger) findings.Add(trigger);
        return (findings, filesError);
    }

    private static string TrustLine(SqlRow r)
    {
        var from = r.Text("address") is { } address ? " " + address + (r.Text("netmask") is { } mask ? " " + mask : "") : "";
        return $"line {r.Text("line_number")}: {r.Text("type")} {r.Text("database")} {r.Text("user_name")}{from} trust";
    }
}
