using System.Globalization;
using System.Net;
using System.Text;
using PgReplication.Core.Config;
using PgReplication.Core.Hosts;
using PgReplication.Core.Model;
using PgReplication.Core.Sql;
using PgReplication.Core.Versions;

namespace PgReplication.Core.Operations;

/// <summary>What Set-PgMasterConfig was asked for.</summary>
public sealed class PrimaryConfigOptions
{
    /// <summary>Standby addresses: IPv4, IPv6, host names (resolved here) or CIDR networks.</summary>
    public IReadOnlyList<string> Standbys { get; init; } = Array.Empty<string>();
    /// <summary>The replication role the pg_hba.conf lines name; needed only with <see cref="Standbys"/>.</summary>
    public string? ReplicationUser { get; init; }
    /// <summary>hostssl lines instead of host.</summary>
    public bool RequireSsl { get; init; }
    /// <summary>WAL kept for standbys, in MB (wal_keep_size; wal_keep_segments before 13).</summary>
    public int WalKeepSizeMB { get; init; } = DefaultWalKeepSizeMB;
    public const int DefaultWalKeepSizeMB = 1024;
    /// <summary>max_slot_wal_keep_size in MB (13+); null leaves it; -1 is unlimited.</summary>
    public int? MaxSlotWalKeepSizeMB { get; init; }
    /// <summary>Synchronous standby names (application_name); empty leaves synchronous_standby_names alone.</summary>
    public IReadOnlyList<string> SynchronousStandbys { get; init; } = Array.Empty<string>();
    public SynchronousMode SynchronousMode { get; init; } = SynchronousMode.First;
    public int SynchronousCount { get; init; } = 1;
    /// <summary>An archive command template containing %p, or an absolute directory on the primary's host.</summary>
    public string? WalArchive { get; init; }
    /// <summary>The addresses standbys reach the primary on; default its ComputerName.</summary>
    public IReadOnlyList<string>? ListenAddresses { get; init; }
    /// <summary>Accept a CIDR network wider than one host in Standbys (a /0 never).</summary>
    public bool AllowNetwork { get; init; }
    /// <summary>
    /// Turn the replication lines that use trust, md5 or password into scram-sha-256 ones (Set-PgMasterConfig does; a
    /// follow that only adds its standby's line does not).
    /// </summary>
    public bool ScramReplicationLines { get; init; }
    /// <summary>
    /// 17+: the physical slots of the failover candidates, for synchronized_standby_slots; null leaves it. With it, each
    /// <see cref="Standbys"/> address also gets a line for the slot sync worker's login to the primary's database.
    /// </summary>
    public IReadOnlyList<string>? FailoverStandbySlots { get; init; }
}

/// <summary>The kinds of change Set-PgMasterConfig makes.</summary>
public enum PrimaryChangeKind { Setting, HbaLine, ArchiveDirectory, HbaMethod, HbaRemove }

/// <summary>One planned change; <see cref="Description"/> is what -WhatIf and verbose print.</summary>
public sealed record PrimaryConfigChange(PrimaryChangeKind Kind, string Target, string? OldValue, string NewValue, bool NeedsRestart)
{
    public string Description => Kind switch
    {
        PrimaryChangeKind.Setting => $"set {Target}: '{OldValue}' -> '{NewValue}'" + (NeedsRestart ? " (needs a restart)" : ""),
        PrimaryChangeKind.HbaLine => $"add to {Target}: {NewValue}",
        PrimaryChangeKind.HbaMethod => $"make scram-sha-256 in {Target}: '{OldValue}' -> '{NewValue}'",
        PrimaryChangeKind.HbaRemove => $"remove from {Target}: {OldValue}",
        _ => $"create WAL archive directory {NewValue} (owner {Target}, mode 0700)",
    };
    internal HbaReplicationRule? Rule { get; init; }
    /// <summary>For an HbaMethod or HbaRemove change: the line as the file has it.</summary>
    internal string? HbaLineText { get; init; }
}

/// <summary>The read-only checks' result: what would change on one primary.</summary>
public sealed class PrimaryConfigPlan
{
    internal PrimaryConfigPlan(PgNode node, IReadOnlyList<PrimaryConfigChange> changes, IReadOnlyList<string> pendingRestart)
    {
        Node = node; Changes = changes; PendingRestart = pendingRestart;
    }
    public PgNode Node { get; }
    public IReadOnlyList<PrimaryConfigChange> Changes { get; }
    /// <summary>Settings already waiting for a restart before this run.</summary>
    public IReadOnlyList<string> PendingRestart { get; }
    public bool NeedsRestart => PendingRestart.Count > 0 || Changes.Any(c => c.NeedsRestart);
}

/// <summary>What was done on one primary.</summary>
public sealed class PrimaryConfigResult
{
    public required PgNode Node { get; init; }
    public required IReadOnlyList<string> Changes { get; init; }
    /// <summary>Settings that still wait for a restart (empty after -Restart).</summary>
    public required IReadOnlyList<string> PendingRestart { get; init; }
    public bool Restarted { get; init; }
}

/// <summary>A setting as the server has it: the live value, and the value its files say (which a restart would apply).</summary>
public sealed record CurrentSetting(string Name, string? Setting, string? Unit, string Context, bool PendingRestart, string? FileSetting)
{
    /// <summary>What the server will run with after a reload or restart.</summary>
    public string? Configured => FileSetting ?? Setting;
    public bool NeedsRestart => Context == "postmaster";
}

/// <summary>A node's pg_hba.conf as in force (its path and text), read once for the admission of followers.</summary>
internal sealed record AdmissionFacts(string HbaPath, string HbaText);

/// <summary>
/// Prepares a primary for streaming replication: settings through ALTER SYSTEM (each only where
/// what is there is not enough), a pg_hba.conf line per standby, optional WAL archiving.
/// Plan runs only read-only checks; Apply writes.
/// </summary>
public static class PrimaryConfig
{
    private const string SettingsQuery = """
        SELECT s.name, s.setting, s.unit, s.context, s.pending_restart,
               (SELECT f.setting FROM pg_catalog.pg_file_settings f
                 WHERE f.name = s.name ORDER BY f.seqno DESC LIMIT 1) AS file_setting
          FROM pg_catalog.pg_settings s
         WHERE s.name = ANY(@names)
        """;

    private static readonly string[] ReadSettings =
    {
        VersionRules.ListenAddresses, VersionRules.WalLevel, VersionRules.MaxWalSenders, VersionRules.MaxReplicationSlots,
        VersionRules.WalKeepSize, VersionRules.WalKeepSegments, VersionRules.MaxSlotWalKeepSize, VersionRules.HotStandby,
        VersionRules.WalLogHints, VersionRules.SynchronousStandbyNames, VersionRules.ArchiveMode, VersionRules.ArchiveCommand,
        "archive_library", "wal_segment_size", "ssl", VersionRules.SynchronizedStandbySlots,
    };

    /// <summary>
    /// The primary's pg_hba.conf as it is on disk: over SQL when the server may read it (no SSH login just to
    /// read a file; the file written later is this same one), otherwise through the host's shell.
    /// </summary>
    internal static string ReadHbaText(PgNode node, PgSession session, string hbaPath, IOperationLog log)
    {
        if (node.MajorVersion is { } major && VersionRules.CanReadServerFile(major, hbaPath, node.DataDirectory))
        {
            try { return session.Scalar<string>("SELECT pg_catalog.pg_read_file(@path)", ("path", hbaPath)) ?? ""; }
            catch (PgQueryException ex) { log.Verbose($"{node.Name}: {hbaPath} could not be read over SQL ({ex.Message}); reading it on the host."); }
        }
        using var shell = HostShells.Open(node, log);
        return HostFiles.ReadText(shell, hbaPath, node.OsUser);
    }

    public static PrimaryConfigPlan Plan(PgNode node, PrimaryConfigOptions options, IOperationLog log)
    {
        // Everything the user gave is validated before anything is read or written.
        if (options.ReplicationUser is { } role) ConfigValues.EnsureSafe(role, "replication role name");
        else if (options.Standbys.Count > 0) throw new ArgumentException($"No replication role for the pg_hba.conf lines of {node.Name}'s standbys: give -ReplicationUser.");
        var rules = options.Standbys.Count == 0 ? Array.Empty<HbaReplicationRule>()
            : ResolveStandbys(options.Standbys, options.ReplicationUser!, options.RequireSsl, node.Name, options.AllowNetwork);
        var archive = options.WalArchive is null ? null : WalArchive.Parse(options.WalArchive);
        if (options.SynchronousStandbys.Count > 0)
            SynchronousStandbyNames.Build(options.SynchronousMode, options.SynchronousCount, options.SynchronousStandbys);
        if (options.FailoverStandbySlots is { } failoverSlots) FailoverSlots.Format(failoverSlots);
        foreach (var a in options.ListenAddresses ?? Array.Empty<string>())
        {
            ConfigValues.EnsureSafe(a, "listen address");
            // A server that cannot read listen_addresses does not start: '*', an address or a host name only.
            var usable = a == "*" || NodeAddress.TryParse(a, out var parsed, out _) && parsed.Port is null;
            if (!usable)
                throw new ArgumentException($"The listen address '{a}' (for {node.Name}) is not '*', an IP address or a host name.");
        }

        using var session = PgSession.Open(node, log: log);
        NodeDiscovery.Discover(node, session, log);
        ReplicationUser.EnsurePrimary(node, "configure the primary");
        var current = session.Query(SettingsQuery, ("names", ReadSettings))
            .Select(r => new CurrentSetting(r.Text("name")!, r.Text("setting"), r.Text("unit"), r.Text("context")!,
                r.Get<bool>("pending_restart"), r.Text("file_setting")))
            .ToDictionary(s => s.Name, StringComparer.Ordinal);

        if (options.ReplicationUser is not null &&
            session.Scalar<long>("SELECT pg_catalog.count(*) FROM pg_catalog.pg_roles r WHERE r.rolname = @n", ("n", options.ReplicationUser)) == 0)
            log.Warning($"On {node.Name}, the role '{options.ReplicationUser}' does not exist yet; create it with New-PgReplicationUser.");

        var major = node.MajorVersion ?? PgVersion.OldestSupportedMajor;
        // Before 17 a logical slot stays on its primary: said once, where the primary is configured.
        if (!FailoverSlots.Supported(major) && (options.FailoverStandbySlots is not null ||
            session.Scalar<long>("SELECT pg_catalog.count(*) FROM pg_catalog.pg_replication_slots s WHERE s.slot_type = 'logical'") > 0))
            log.Warning(FailoverSlots.NotSupportedMessage(node.Name, major) + (options.FailoverStandbySlots is null ? "" : " -FailoverStandby was ignored."));
        var failoverLogins = options.FailoverStandbySlots is { Count: > 0 } && FailoverSlots.Supported(major);
        var listen = options.ListenAddresses ?? new[] { node.ComputerName };
        var changes = PlanSettings(node.MajorVersion ?? PgVersion.OldestSupportedMajor, current, options, rules.Count,
            node.DataChecksums == true, listen, archive, node.Name, log).ToList();

        if (archive?.Directory is { } dir)
        {
            using var shell = HostShells.Open(node, log);
            if (!HostFiles.Exists(shell, dir, node.OsUser))
                changes.Insert(0, new PrimaryConfigChange(PrimaryChangeKind.ArchiveDirectory, node.OsUser, null, dir, false));
            else if (shell.Run(new HostCommand("test", "-d", dir, "-a", "-w", dir) { RunAs = node.OsUser, Timeout = TimeSpan.FromSeconds(30) }).ExitCode != 0)
                // Caught now rather than as archiver failures piling up later.
                throw new InvalidOperationException($"On {node.Name}, the WAL archive directory {dir} exists but is not a directory {node.OsUser} can write to.");
        }

        if (rules.Count > 0 || options.ScramReplicationLines)
        {
            var hbaPath = node.HbaFile ?? throw new InvalidOperationException($"The hba_file of {node.Name} is not known.");
            var existingErrors = HbaErrors(session);
            if (existingErrors.Count > 0 && rules.Count > 0)
                throw new InvalidOperationException($"On {node.Name}, {hbaPath} already has errors, so it was not edited: {string.Join("; ", existingErrors)}");
            var text = existingErrors.Count > 0 ? null : ReadHbaText(node, session, hbaPath, log);
            if (text is null)
                log.Warning($"On {node.Name}, {hbaPath} has errors ({string.Join("; ", existingErrors)}), so its replication lines were not made scram-sha-256.");
            else if (options.ScramReplicationLines)
            {
                var scram = PlanScram(node, session, hbaPath, text, log).ToList();
                changes.AddRange(scram);
                // The lines to add are planned on the file as it will be: a weak line for a standby made scram-sha-256
                // is that standby's line, and nothing is added for it.
                var lines = scram.Select(c => c.HbaLineText).ToHashSet(StringComparer.Ordinal);
                text = HbaEditor.ReplicationLinesToScram(text, l => lines.Contains(l.Text)).NewText;
            }
            // A primary whose lines for the role are all hostssl (Enable-PgReplicationSsl) admits a standby added later over TLS only too.
            if (text is not null && !options.RequireSsl && rules.Count > 0 && HbaEditor.AdmitsRoleOverSslOnly(text, options.ReplicationUser!))
                rules = rules.Select(r => new HbaReplicationRule(r.Role, r.Address, r.Prefix, requireSsl: true)).ToList();
            // 17+: a failover candidate's slot sync worker logs in to the primary's database (not for replication).
            if (failoverLogins) rules = WithSlotSyncLogins(rules, node.Database);
            if (text is not null) changes.AddRange(MissingHbaLines(node, hbaPath, text, rules, log));
        }

        EnsureMayAlterSystem(node, session, changes.Where(c => c.Kind == PrimaryChangeKind.Setting).Select(c => c.Target).ToList());
        var pending = current.Values.Where(s => s.PendingRestart).Select(s => s.Name).ToList();
        if (changes.Count == 0) log.Verbose($"{node.Name}: the primary is already configured; nothing to change.");
        return new PrimaryConfigPlan(node, changes, pending);
    }

    /// <summary>The rules <paramref name="text"/> does not already have in force, as pg_hba.conf line changes.</summary>
    private static IEnumerable<PrimaryConfigChange> MissingHbaLines(PgNode node, string hbaPath, string text,
        IEnumerable<HbaReplicationRule> rules, IOperationLog log)
    {
        foreach (var rule in rules)
        {
            if (HbaEditor.AddReplicationRules(text, new[] { rule }).Changed)
                yield return new PrimaryConfigChange(PrimaryChangeKind.HbaLine, hbaPath, null, rule.Line, false) { Rule = rule };
            else
                log.Verbose($"{node.Name}: {hbaPath} already has '{rule.Line}' in force.");
        }
    }

    /// <summary>
    /// The replication lines <paramref name="node"/>'s pg_hba.conf lacks for nodes about to stream from it (one line per
    /// address, SCRAM): a standby about to be promoted, a new primary, or the upstream of a cascade. Unlike
    /// <see cref="Plan"/> it works on a node of any role and plans nothing else. Throws, naming the host and the file,
    /// when the file cannot be edited safely (it has errors the server reports): the caller refuses before any change.
    /// </summary>
    /// <param name="syncsSlots">
    /// 17+: the follower is a failover candidate of <paramref name="node"/>: its slot sync worker also logs in to the node's
    /// database (not for replication), so it gets that line too, as Set-PgMasterConfig -FailoverStandby gives it.
    /// </param>
    public static PrimaryConfigPlan PlanFollowerAdmission(PgNode node, IReadOnlyCollection<string> followers, string role, IOperationLog log, bool requireSsl = false,
        bool syncsSlots = false)
    {
        using var session = PgSession.Open(node, log: log);
        return PlanFollowerAdmission(node, session, followers, role, log, requireSsl, syncsSlots);
    }

    /// <summary>The same, over a session the caller has open to <paramref name="node"/> (a switchover asks more of it).</summary>
    internal static PrimaryConfigPlan PlanFollowerAdmission(PgNode node, PgSession session, IReadOnlyCollection<string> followers, string role,
        IOperationLog log, bool requireSsl = false, bool syncsSlots = false) =>
        PlanFollowerAdmission(node, ReadAdmissionFacts(node, session, log), followers, role, log, requireSsl, syncsSlots);

    /// <summary>
    /// The reads <see cref="PlanFollowerAdmission(PgNode, AdmissionFacts, IReadOnlyCollection{string}, string, IOperationLog, bool, bool)"/>
    /// decides from, apart from it: a follow reads them as soon as it starts, before it knows how its standby connects.
    /// Throws, naming the host and the file, when the file has errors the server reports.
    /// </summary>
    internal static AdmissionFacts ReadAdmissionFacts(PgNode node, PgSession session, IOperationLog log)
    {
        NodeDiscovery.Discover(node, session, log);
        var hbaPath = node.HbaFile ?? throw new InvalidOperationException($"The hba_file of {node.Name} is not known.");
        if (HbaErrors(session) is { Count: > 0 } errors)
            throw new InvalidOperationException($"On {node.Name}, {hbaPath} has errors, so no replication line can be added to it: {string.Join("; ", errors)}");
        return new AdmissionFacts(hbaPath, ReadHbaText(node, session, hbaPath, log));
    }

    /// <summary>The lines a follower needs, decided from what <see cref="ReadAdmissionFacts"/> read (no I/O but name resolution).</summary>
    internal static PrimaryConfigPlan PlanFollowerAdmission(PgNode node, AdmissionFacts facts, IReadOnlyCollection<string> followers, string role,
        IOperationLog log, bool requireSsl = false, bool syncsSlots = false)
    {
        ConfigValues.EnsureSafe(role, "replication role name");
        // A node whose lines for the role are all hostssl (Enable-PgReplicationSsl) admits a new follower over TLS only too.
        var rules = ResolveStandbys(followers, role, requireSsl || HbaEditor.AdmitsRoleOverSslOnly(facts.HbaText, role), node.Name);
        if (syncsSlots && FailoverSlots.Supported(node.MajorVersion ?? PgVersion.OldestSupportedMajor))
            rules = WithSlotSyncLogins(rules, node.Database);
        var changes = MissingHbaLines(node, facts.HbaPath, facts.HbaText, rules, log).ToList();
        return new PrimaryConfigPlan(node, changes, Array.Empty<string>());
    }

    /// <summary>17+: each replication rule, and beside it the same role and address for one database: a failover
    /// candidate's slot sync worker logs in to the primary's database, not for replication.</summary>
    private static List<HbaReplicationRule> WithSlotSyncLogins(IReadOnlyCollection<HbaReplicationRule> rules, string database) =>
        rules.Concat(rules.Select(r => new HbaReplicationRule(r.Role, r.Address, r.Prefix, r.RequireSsl, database))).ToList();

    /// <summary>
    /// ALTER SYSTEM is a superuser's before 15; from 15 a role may be granted it per setting (New-PgAdminRole does).
    /// Checked before anything changes, so a role that may not write every planned setting changes nothing.
    /// </summary>
    private static void EnsureMayAlterSystem(PgNode node, PgSession session, IReadOnlyList<string> settings)
    {
        if (settings.Count == 0 || session.Scalar<string>("SELECT pg_catalog.current_setting('is_superuser')") == "on") return;
        var granted = VersionRules.Applies(VersionRules.AlterSystemOnParameter, node.MajorVersion ?? VersionRules.NewestMajor);
        var missing = granted
            ? settings.Where(s => session.Scalar<bool>("SELECT pg_catalog.has_parameter_privilege(@s, 'ALTER SYSTEM')", ("s", s)) != true).ToList()
            : settings.ToList();
        if (missing.Count == 0) return;
        var role = node.AdminCredential?.UserName ?? "postgres";
        throw new RefusedException(ErrorReasons.AlterSystemNeedsSuperuser,
            $"On {node.Name}, the admin role {role} may not ALTER SYSTEM SET {string.Join(", ", missing)}, and nothing was changed: " +
            (granted ? $"grant it ALTER SYSTEM ON PARAMETER (New-PgAdminRole does) or use a superuser's credential."
                     : $"before 15 only a superuser may; use a superuser's credential for Set-PgMasterConfig."), node);
    }

    /// <summary>
    /// The weak replication lines (trust, md5, password) to make scram-sha-256, for the same addresses and role. A line is
    /// left, with a warning, when a role it admits has no SCRAM-SHA-256 password (pg_authid): the new line would lock it out.
    /// </summary>
    private static IEnumerable<PrimaryConfigChange> PlanScram(PgNode node, PgSession session, string hbaPath, string text, IOperationLog log)
    {
        var weak = HbaFile.Parse(text).Where(HbaEditor.IsWeakReplicationLine).ToList();
        if (weak.Count == 0) return Array.Empty<PrimaryConfigChange>();
        IReadOnlyDictionary<string, bool> scram;
        try
        {
            // The roles that may log in for replication, and whether their password is a SCRAM verifier.
            scram = session.Query(
                    "SELECT a.rolname::text AS role, COALESCE(a.rolpassword LIKE 'SCRAM-SHA-256$%', false) AS scram " +
                    "FROM pg_catalog.pg_authid a WHERE a.rolcanlogin AND (a.rolreplication OR a.rolsuper)")
                .ToDictionary(r => r.Text("role")!, r => r.Get<bool>("scram"), StringComparer.Ordinal);
        }
        catch (PgQueryException ex)
        {
            log.Warning($"On {node.Name}, pg_authid could not be read ({ex.Message}), so whether its roles have SCRAM passwords is not known: " +
                        $"the trust, md5 and password replication lines of {hbaPath} were left as they are.");
            return Array.Empty<PrimaryConfigChange>();
        }
        var changes = new List<PrimaryConfigChange>();
        foreach (var line in weak)
        {
            var locked = HbaEditor.RolesAdmitted(line, scram.Keys.ToList()).Where(r => !scram[r]).Order(StringComparer.Ordinal).ToList();
            if (locked.Count > 0)
            {
                log.Warning($"On {node.Name}, line {line.LineNumber} of {hbaPath} ('{line.Text.Trim()}') was left as it is: {string.Join(", ", locked.Select(r => $"'{r}'"))} " +
                            "has no SCRAM-SHA-256 password, and a scram-sha-256 line would lock it out. Give it one (New-PgReplicationUser -Force for the replication role; " +
                            "ALTER ROLE ... PASSWORD with password_encryption = 'scram-sha-256' for another), then run Set-PgMasterConfig again.");
                continue;
            }
            var converted = HbaEditor.ReplicationLinesToScram(line.Text + "\n", _ => true).AddedLines.SingleOrDefault();
            if (converted is not null)
                changes.Add(new PrimaryConfigChange(PrimaryChangeKind.HbaMethod, hbaPath, line.Text.Trim(), converted.Trim(), false) { HbaLineText = line.Text });
        }
        return changes;
    }

    /// <summary>
    /// The settings to change: each only where what the server (or its files, for a pending
    /// restart) has is not already enough. Pure, so each rule is tested without a server.
    /// </summary>
    internal static IEnumerable<PrimaryConfigChange> PlanSettings(int major, IReadOnlyDictionary<string, CurrentSetting> current,
        PrimaryConfigOptions options, int standbyCount, bool dataChecksums, IEnumerable<string> listen, WalArchive? archive,
        string host, IOperationLog log)
    {
        CurrentSetting Get(string name) => current.TryGetValue(name, out var s)
            ? s : throw new InvalidOperationException($"On {host}, the setting {name} does not exist (pg_settings), so it cannot be set.");
        PrimaryConfigChange Change(string name, string value)
        {
            ConfigValues.EnsureSettingName(name);
            ConfigValues.EnsureSafe(value, $"value of {name}");
            var s = Get(name);
            return new PrimaryConfigChange(PrimaryChangeKind.Setting, name, s.Configured, value, s.NeedsRestart);
        }

        var listenNow = Get(VersionRules.ListenAddresses).Configured;
        if (ListenAddresses.WithAdded(listenNow, listen) is { } newListen)
            yield return Change(VersionRules.ListenAddresses, newListen);

        if (Get(VersionRules.WalLevel).Configured is not ("replica" or "logical"))
            yield return Change(VersionRules.WalLevel, "replica");

        var enough = standbyCount + 2;
        foreach (var name in new[] { VersionRules.MaxWalSenders, VersionRules.MaxReplicationSlots })
        {
            var s = Get(name);
            if ((ConfigValues.ToSettingUnits(s.Configured, s.Unit) ?? 0) < enough)
                yield return Change(name, enough.ToString(CultureInfo.InvariantCulture));
        }

        var keepName = VersionRules.WalKeepSetting(major);
        var keep = Get(keepName);
        long wantedKeep;
        if (keepName == VersionRules.WalKeepSize)
        {
            wantedKeep = options.WalKeepSizeMB;
        }
        else
        {
            var segment = Get("wal_segment_size");
            var segmentBytes = (ConfigValues.ToSettingUnits(segment.Setting, null) ?? 0) * (ConfigValues.UnitBytes(segment.Unit) ?? 1);
            var segmentMB = Math.Max(1, segmentBytes / (1024 * 1024));
            wantedKeep = (options.WalKeepSizeMB + segmentMB - 1) / segmentMB;
        }
        if ((ConfigValues.ToSettingUnits(keep.Configured, keep.Unit) ?? 0) < wantedKeep)
            yield return Change(keepName, keepName == VersionRules.WalKeepSize
                ? $"{wantedKeep}MB" : wantedKeep.ToString(CultureInfo.InvariantCulture));

        if (options.MaxSlotWalKeepSizeMB is { } slotKeep)
        {
            if (!VersionRules.Applies(VersionRules.MaxSlotWalKeepSize, major))
            {
                log.Warning($"On {host}, PostgreSQL {major} has no max_slot_wal_keep_size (13 and later); -MaxSlotWalKeepSize was ignored.");
            }
            else
            {
                var s = Get(VersionRules.MaxSlotWalKeepSize);
                if (ConfigValues.ToSettingUnits(s.Configured, s.Unit) != slotKeep)
                    yield return Change(VersionRules.MaxSlotWalKeepSize, slotKeep == -1 ? "-1" : $"{slotKeep}MB");
            }
        }

        if (ConfigValues.ParseBool(Get(VersionRules.HotStandby).Configured) != true)
            yield return Change(VersionRules.HotStandby, "on");

        // pg_rewind needs hint bits WAL-logged; data checksums already do that.
        if (!dataChecksums && ConfigValues.ParseBool(Get(VersionRules.WalLogHints).Configured) != true)
            yield return Change(VersionRules.WalLogHints, "on");

        if (options.SynchronousStandbys.Count > 0)
        {
            var wanted = SynchronousStandbyNames.Build(options.SynchronousMode, options.SynchronousCount, options.SynchronousStandbys);
            if ((Get(VersionRules.SynchronousStandbyNames).Configured ?? "").Trim() != wanted)
                yield return Change(VersionRules.SynchronousStandbyNames, wanted);
        }

        if (options.FailoverStandbySlots is { } candidates && FailoverSlots.Supported(major) &&
            FailoverSlots.PlanPrimarySetting(Get(VersionRules.SynchronizedStandbySlots).Configured, candidates) is { } slots)
            yield return Change(VersionRules.SynchronizedStandbySlots, slots);

        if (archive is not null)
        {
            if (current.TryGetValue("archive_library", out var library) && !string.IsNullOrEmpty(library.Configured))
                throw new InvalidOperationException(
                    $"On {host}, archive_library is set to '{library.Configured}'; archive_command cannot be used with it.");
            if (Get(VersionRules.ArchiveMode).Configured is not ("on" or "always"))
                yield return Change(VersionRules.ArchiveMode, "on");
            if (Get(VersionRules.ArchiveCommand).Configured != archive.Command)
                yield return Change(VersionRules.ArchiveCommand, archive.Command);
        }
    }

    /// <summary>Writes the approved changes, reloads, and restarts when asked and needed.</summary>
    public static PrimaryConfigResult Apply(PrimaryConfigPlan plan, IReadOnlyCollection<PrimaryConfigChange> approved,
        bool restart, TimeSpan restartTimeout, IOperationLog log)
    {
        var node = plan.Node;
        var done = new List<string>();
        using var shell = HostShells.Open(node, log);
        using (var session = PgSession.Open(node, log: log))
        {
            foreach (var change in approved.Where(c => c.Kind == PrimaryChangeKind.ArchiveDirectory))
            {
                shell.Run(new HostCommand("mkdir", "-p", "-m", "0700", "--", change.NewValue) { RunAs = node.OsUser }).EnsureSuccess();
                shell.Run(new HostCommand("chmod", "0700", "--", change.NewValue) { RunAs = node.OsUser }).EnsureSuccess();
                Done(change);
            }

            var settings = approved.Where(c => c.Kind == PrimaryChangeKind.Setting).ToList();
            foreach (var change in settings)
            {
                // ALTER SYSTEM is a utility statement: no bind parameters, so the value is quoted as a literal.
                session.Execute($"ALTER SYSTEM SET {change.Target} = {SqlQuote.Literal(change.NewValue)}");
                Done(change);
            }

            var rules = approved.Where(c => c.Kind == PrimaryChangeKind.HbaLine).Select(c => c.Rule!).ToList();
            var scram = approved.Where(c => c.Kind == PrimaryChangeKind.HbaMethod).ToList();
            var removals = approved.Where(c => c.Kind == PrimaryChangeKind.HbaRemove).ToList();
            if (rules.Count > 0 || scram.Count > 0 || removals.Count > 0)
            {
                var (converted, removed) = EditHba(node, shell, session, rules, scram.Select(c => c.HbaLineText!).ToHashSet(StringComparer.Ordinal), log,
                    removals.Select(c => c.HbaLineText!).ToHashSet(StringComparer.Ordinal));
                foreach (var change in approved.Where(c => c.Kind == PrimaryChangeKind.HbaLine || c.Kind == PrimaryChangeKind.HbaMethod && converted.Contains(c.HbaLineText!)
                                                           || c.Kind == PrimaryChangeKind.HbaRemove && removed.Contains(c.HbaLineText!)))
                    Done(change);
            }

            if (settings.Count > 0 || rules.Count > 0 || scram.Count > 0 || removals.Count > 0)
            {
                session.Scalar<bool>("SELECT pg_catalog.pg_reload_conf()");
                log.Verbose($"{node.Name}: configuration reloaded.");
            }
        }

        var pending = WaitForReload(node, settings: approved.Where(c => c.Kind == PrimaryChangeKind.Setting).ToList(), log);
        var restarted = false;
        if (pending.Count > 0 && restart)
        {
            log.Verbose($"{node.Name}: restarting for {string.Join(", ", pending)}.");
            ServerController.Restart(node, shell, log, restartTimeout);
            ServerController.WaitUntilAccepting(node, log, restartTimeout);
            restarted = true;
            pending = Array.Empty<string>();
        }
        else if (pending.Count > 0)
        {
            log.Warning($"On {node.Name}, these settings take effect only after a restart: {string.Join(", ", pending)}. Run again with -Restart, or restart the server.");
        }
        if (done.Count == 0 && plan.Changes.Count > 0) log.Verbose($"{node.Name}: nothing changed (no planned change was approved).");
        return new PrimaryConfigResult { Node = node, Changes = done, PendingRestart = pending, Restarted = restarted };

        void Done(PrimaryConfigChange change)
        {
            done.Add(change.Description);
            log.Verbose($"{node.Name}: {change.Description}.");
        }
    }

    /// <summary>
    /// pg_reload_conf() only signals the postmaster: waits (briefly) until the reloadable settings
    /// show their new values, then returns the settings that wait for a restart.
    /// </summary>
    private static IReadOnlyList<string> WaitForReload(PgNode node, IReadOnlyList<PrimaryConfigChange> settings, IOperationLog log)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (true)
        {
            using var session = PgSession.Open(node, log: NullOperationLog.Instance);
            var rows = session.Query("SELECT s.name, s.pending_restart, s.context FROM pg_catalog.pg_settings s WHERE s.pending_restart OR s.name = ANY(@names)",
                ("names", settings.Select(s => s.Target).ToArray()));
            var pending = rows.Where(r => r.Get<bool>("pending_restart")).Select(r => r.Text("name")!).ToList();
            var restartOnes = settings.Where(s => s.NeedsRestart).Select(s => s.Target);
            if (restartOnes.All(pending.Contains) || DateTime.UtcNow > deadline) return pending;
            Thread.Sleep(200);
        }
    }

    /// <summary>
    /// Makes the weak replication lines <paramref name="toScram"/> (as the file has them) scram-sha-256 and adds the rules
    /// to pg_hba.conf, in one write: atomic with the old copy kept, its mode kept, checked through pg_hba_file_rules, and
    /// put back as it was when the server finds an error in it. Returns the lines made scram-sha-256, and those of
    /// <paramref name="toRemove"/> (lines as the file has them) that were removed.
    /// </summary>
    private static (IReadOnlySet<string> Converted, IReadOnlySet<string> Removed) EditHba(PgNode node, IHostShell shell, PgSession session,
        IReadOnlyList<HbaReplicationRule> rules, IReadOnlySet<string> toScram, IOperationLog log, IReadOnlySet<string>? toRemove = null)
    {
        var path = node.HbaFile!;
        var old = HostFiles.ReadText(shell, path, node.OsUser);
        var scram = HbaEditor.ReplicationLinesToScram(old, l => toScram.Contains(l.Text));
        var converted = scram.RemovedLines.ToHashSet(StringComparer.Ordinal);
        foreach (var gone in toScram.Where(l => !converted.Contains(l)))
            log.Warning($"On {node.Name}, '{gone.Trim()}' is no longer in {path} as it was when planned; it was not changed.");
        var added = HbaEditor.AddReplicationRules(scram.NewText, rules);
        var edit = HbaEditor.RemoveLines(added.NewText, toRemove ?? new HashSet<string>());
        var removed = edit.RemovedLines.ToHashSet(StringComparer.Ordinal);
        foreach (var gone in (toRemove ?? new HashSet<string>()).Where(l => !removed.Contains(l)))
            log.Verbose($"On {node.Name}, '{gone.Trim()}' is no longer in {path}: nothing to remove.");
        if (!added.Changed && !scram.Changed && !edit.Changed) return (converted, removed);
        WriteCheckedHba(node, shell, session, old, edit.NewText, log);
        return (converted, removed);
    }

    /// <summary>
    /// The one writer of pg_hba.conf (<paramref name="path"/>, else the node's hba_file; any node, a standby too):
    /// parsed first, atomic with the old copy kept, its mode kept, checked through pg_hba_file_rules, and put back as
    /// it was when the server finds an error. A stopped server (<paramref name="session"/> null) cannot be asked: it
    /// reads the file when it starts, and a file it cannot load stops that start. The caller reloads.
    /// </summary>
    internal static void WriteCheckedHba(PgNode node, IHostShell shell, PgSession? session, string oldText, string newText, IOperationLog log,
        string? path = null)
    {
        path ??= node.HbaFile ?? throw new InvalidOperationException($"The hba_file of {node.Name} is not known.");
        var problems = HbaFile.Check(newText);
        if (problems.Count > 0)
            throw new InvalidOperationException($"On {node.Name}, the edited {path} would not parse, so it was not written: {string.Join("; ", problems)}");

        var mode = shell.Run(new HostCommand("stat", "-c", "%a", "--", path) { RunAs = node.OsUser }).EnsureSuccess().StandardOutput.Trim();
        var backup = HostFiles.TimestampedBackupSuffix();
        HostFiles.Write(shell, path, Encoding.UTF8.GetBytes(newText), mode, node.OsUser, backup);
        log.Verbose($"{node.Name}: wrote {path} (previous copy {path}{backup}).");

        var errors = session is null ? Array.Empty<string>() : HbaErrors(session);
        if (errors.Count > 0)
        {
            HostFiles.Write(shell, path, Encoding.UTF8.GetBytes(oldText), mode, node.OsUser);
            throw new InvalidOperationException(
                $"On {node.Name}, the server rejected the edited {path} ({string.Join("; ", errors)}); the previous file was put back and nothing was reloaded.");
        }
    }

    /// <summary>pg_hba_file_rules rows with an error: the server's own parse of the file on disk.</summary>
    private static IReadOnlyList<string> HbaErrors(PgSession session) =>
        session.Query("SELECT h.line_number, h.error FROM pg_catalog.pg_hba_file_rules h WHERE h.error IS NOT NULL ORDER BY h.line_number")
            .Select(r => $"line {r.Text("line_number")}: {r.Text("error")}").ToList();

    /// <summary>
    /// Standby addresses to rules: an address as /32 or /128, a name as each address it resolves to, a CIDR as given. One
    /// address per standby is the promise: a network wider than one host only with <paramref name="allowNetwork"/>, a /0
    /// (every address there is) never.
    /// </summary>
    internal static IReadOnlyList<HbaReplicationRule> ResolveStandbys(IEnumerable<string> standbys, string role, bool requireSsl, string host, bool allowNetwork = false)
    {
        var rules = new List<HbaReplicationRule>();
        foreach (var text in standbys)
        {
            ConfigValues.EnsureSafe(text, "standby address");
            var value = text.Trim();
            if (value.StartsWith('[') && value.EndsWith(']')) value = value[1..^1];
            if (value.Contains('/'))
            {
                if (!HbaFile.TryParseCidr(value, out var network, out var prefix))
                    throw new ArgumentException($"The standby address '{text}' (for {host}) is not a valid CIDR network.");
                var hostPrefix = network.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? 128 : 32;
                if (prefix == 0)
                    throw new ArgumentException($"The standby network '{text}' (for {host}) is every address there is: refused, even with -AllowNetwork. Give each standby's address.");
                if (prefix < hostPrefix && !allowNetwork)
                    throw new ArgumentException($"The standby network '{text}' (for {host}) lets every host in it replicate, not one standby: " +
                                                "give each standby's address, or -AllowNetwork to write a replication line for the whole network.");
                rules.Add(new HbaReplicationRule(role, network, prefix, requireSsl));
            }
            else if (IPAddress.TryParse(value, out var ip) && !value.Contains('%'))
            {
                rules.Add(new HbaReplicationRule(role, ip, null, requireSsl));
            }
            else
            {
                if (value.Length == 0 || value.Any(c => char.IsWhiteSpace(c) || char.IsControl(c)))
                    throw new ArgumentException($"The standby address '{ConfigValues.Printable(text)}' (for {host}) is not an address or host name.");
                IPAddress[] addresses;
                try { addresses = Dns.GetHostAddresses(value); }
                catch (System.Net.Sockets.SocketException ex)
                {
                    throw new ArgumentException($"The standby name '{value}' (for {host}) does not resolve: {ex.Message}", ex);
                }
                if (addresses.Length == 0) throw new ArgumentException($"The standby name '{value}' (for {host}) has no addresses.");
                rules.AddRange(addresses.Select(a => new HbaReplicationRule(role, a.IsIPv4MappedToIPv6 ? a.MapToIPv4() : a, null, requireSsl)));
            }
        }
        return rules.DistinctBy(r => (r.Cidr, r.Type)).ToList();
    }
}

/// <summary>
/// -WalArchive: a command template of the user's own (pgBackRest, WAL-G, ...) that contains %p,
/// or an absolute directory on the primary's host that the module copies WAL into.
/// </summary>
public sealed record WalArchive(string Command, string? Directory)
{
    public static WalArchive Parse(string value)
    {
        ConfigValues.EnsureSafe(value, "WAL archive command");
        var trimmed = value.Trim();
        if (trimmed.Length == 0) throw new ArgumentException("The WAL archive command is empty.");
        if (trimmed.StartsWith('/') && !trimmed.Contains('%'))
        {
            if (trimmed.Split('/').Contains(".."))
                throw new ArgumentException($"The WAL archive directory '{value}' contains '..': give the directory itself.");
            return new WalArchive(DirectoryCommand(trimmed.TrimEnd('/')), trimmed.TrimEnd('/'));
        }
        if (!trimmed.Contains("%p", StringComparison.Ordinal))
            throw new ArgumentException($"The WAL archive command '{value}' does not contain %p (the WAL file to archive), nor is it an absolute directory.");
        return new WalArchive(trimmed, null);
    }

    /// <summary>
    /// Copies to a temporary name, flushes, then renames, so the archive never holds half a file;
    /// a file already archived is accepted only when identical. Any failure is a non-zero exit,
    /// which makes the server keep the WAL and retry.
    /// </summary>
    public static string DirectoryCommand(string directory)
    {
        // In archive_command % is special: a literal one is written %%.
        var d = ShellQuote.Quote(directory).Replace("%", "%%");
        return $"f={d}/%f; if [ -f \"$f\" ]; then cmp -s %p \"$f\"; else cp %p \"$f.part\" && sync \"$f.part\" && mv \"$f.part\" \"$f\"; fi";
    }
}
