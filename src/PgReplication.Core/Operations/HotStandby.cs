using System.Globalization;
using System.Net;
using System.Text;
using PgReplication.Core.Config;
using PgReplication.Core.Hosts;
using PgReplication.Core.Model;
using PgReplication.Core.Sql;
using PgReplication.Core.Versions;

namespace PgReplication.Core.Operations;

public sealed class HotStandbyRequest
{
    public required PgNode Standby { get; init; }
    public required PgNode Primary { get; init; }
    public required NetworkCredential Replication { get; init; }
    public string? SlotName { get; init; }
    public string? RestoreCommand { get; init; }
    public string? ArchiveCleanupCommand { get; init; }
    /// <summary>The CA file on the standby's host: primary_conninfo gets sslmode=verify-full and it. Default: the module's, when the host has it.</summary>
    public string? SslRootCert { get; init; }
    public TimeSpan Timeout { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>The same request for another node object of the same upstream (a plan made on a copy, applied to the node).</summary>
    internal HotStandbyRequest WithPrimary(PgNode primary) => new()
    {
        Standby = Standby, Primary = primary, Replication = Replication, SlotName = SlotName, RestoreCommand = RestoreCommand,
        ArchiveCleanupCommand = ArchiveCleanupCommand, SslRootCert = SslRootCert, Timeout = Timeout,
    };
}

/// <summary>What Enable-PgHotStandby will change (what -WhatIf shows) and what it did.</summary>
public sealed class HotStandbyPlan
{
    public required string PassFilePath { get; init; }
    public bool PassFileChange { get; init; }
    /// <summary>The settings to write; a null value removes the setting (a trigger file anyone could create).</summary>
    public required Dictionary<string, string?> SettingChanges { get; init; }
    public required string ConfigFile { get; init; }
    /// <summary>The recovery settings file lets other users read it: written again with mode 0600.</summary>
    public bool ConfigFileModeChange { get; init; }
    public required string ConfigText { get; init; }
    public bool WriteSignal { get; init; }
    public bool ServerRunning { get; init; }
    public bool NeedsRestart { get; init; }
    /// <summary>The primary's replication lines this node's pg_hba.conf lacks (so it can serve as primary later).</summary>
    public HbaEdit? HbaEdit { get; init; }
    /// <summary>This node's pg_hba.conf as read for the plan: what a rejected edit is put back to.</summary>
    public string? HbaOldText { get; init; }
    public string? HbaFilePath { get; init; }
    /// <summary>The cluster's CA certificate for the standby's root.crt, from its upstream (a standby added after Enable-PgReplicationSsl).</summary>
    public string? RootCertificateToWrite { get; init; }
    /// <summary>Server settings for postgresql.auto.conf before 12 (from 12 they are in <see cref="SettingChanges"/>: the same file).</summary>
    public Dictionary<string, string?> ServerSettingChanges { get; init; } = new();
    /// <summary>Said once when the standby starts without TLS of its own, or cannot verify its upstream.</summary>
    public string? TlsWarning { get; init; }
    /// <summary>17+: the upstream lists this standby's slot in synchronized_standby_slots (it syncs the failover slots).</summary>
    public bool FailoverCandidate { get; init; }
    public List<string> Steps { get; } = new();
    public bool ChangesNothing => !PassFileChange && SettingChanges.Count == 0 && !ConfigFileModeChange && !WriteSignal && ServerRunning && HbaEdit is not { Changed: true }
        && RootCertificateToWrite is null && ServerSettingChanges.Count == 0;
}

/// <summary>The reads <see cref="HotStandby.StartReads"/> started for one standby's plan.</summary>
public sealed class StandbyReads
{
    internal StandbyReads(PgNode standby, int major, HostFileReads files, Task<string> bin, Task<DataDirectoryIdentity> target) =>
        (Standby, Major, Files, Bin, Target) = (standby, major, files, bin, target);
    internal PgNode Standby { get; }
    internal int Major { get; }
    /// <summary>The standby host's files the plan reads, read once; a caller reads them here too.</summary>
    public HostFileReads Files { get; }
    internal Task<string> Bin { get; }
    internal Task<DataDirectoryIdentity> Target { get; }
}

/// <summary>Turns a base backup into a running hot standby that streams from its primary.</summary>
public static class HotStandby
{
    private static readonly TimeSpan Short = TimeSpan.FromSeconds(30);
    /// <summary>
    /// The connect timeout of the plan's read of a running standby's settings and of the session that reloads it: the
    /// same, so both come from one pool and the reload reuses the plan's login.
    /// </summary>
    internal static readonly TimeSpan RunningStandbyConnectTimeout = TimeSpan.FromSeconds(5);

    /// <summary>
    /// The reads of a standby's plan that need only the standby (its host's programs, what its data directory holds, the
    /// files the plan reads, in one command), started now: a caller with reads of its own (a follow reads the standby's
    /// settings and passfile first, to learn its role and slot) starts these first and gives them to
    /// <see cref="Prepare"/>, so both overlap. The standby's data directory and major must be known.
    /// </summary>
    public static StandbyReads StartReads(PgNode standby, IHostShell shell, int major)
    {
        var data = standby.DataDirectory ?? throw new InvalidOperationException($"The data directory of {standby.Name} is not known.");
        var files = new HostFileReads(shell, standby.OsUser);
        files.StartPrefetch(new[]
        {
            RecoveryConfigFile(data, major), HostFileReads.InHome(".pgpass"), RemotePath.Join(data, "postgresql.auto.conf"),
            HbaPath(standby, data), TlsFiles.RootCertificatePath(standby), RemotePath.Join(data, VersionRules.StandbySignal),
        });
        var known = standby.BinDirectory;
        var bin = Concurrently.Start(() => ServerController.BinDirectory(standby, shell, major)); // fails naming the host when the programs are missing
        // What the directory holds, and whether a server runs there (as a standby, or as a primary: never reconfigured).
        // With the programs' folder the node names, inspected while that folder is checked: two commands at once, not
        // one after the other; only another folder found costs a second inspection.
        var target = Concurrently.Start(() =>
        {
            var early = known is null ? null : DataDirectoryGuard.Inspect(shell, standby.Name, data, standby.OsUser, known, major);
            var checkedBin = bin.Join();
            return early is not null && checkedBin == known ? early : DataDirectoryGuard.Inspect(shell, standby.Name, data, standby.OsUser, checkedBin, major);
        });
        return new StandbyReads(standby, major, files, bin, target);
    }

    private static string HbaPath(PgNode standby, string data) => standby.HbaFile ?? RemotePath.Join(data, "pg_hba.conf");

    /// <param name="reads">What <see cref="StartReads"/> started for this standby; default: started here.</param>
    public static HotStandbyPlan Prepare(HotStandbyRequest request, IHostShell shell, IOperationLog log, StandbyReads? reads = null)
    {
        var (standby, primary) = (request.Standby, request.Primary);
        var data = standby.DataDirectory ?? throw new InvalidOperationException($"The data directory of {standby.Name} is not known: run Invoke-PgBaseBackup first, or discover the node.");
        var major = standby.MajorVersion ?? primary.MajorVersion ?? throw new InvalidOperationException($"The version of {standby.Name} is not known.");
        if (reads is null || reads.Standby != standby || reads.Major != major) reads = StartReads(standby, shell, major);
        var (files, bin, target) = (reads.Files, reads.Bin, reads.Target);
        // What the plan needs to know, asked at once: each is a round trip to the standby's host or the primary.
        var configFile = RecoveryConfigFile(data, major);
        var hbaPath = HbaPath(standby, data);
        var passFile = Concurrently.Start(() => RemotePath.Join(files.Home, ".pgpass"));
        // With their modes: a passfile others can read is one libpq ignores, and both are written again 0600.
        var passFileText = Concurrently.Start(() => files.ReadTextAndMode(passFile.Join()));
        var signalExists = Concurrently.Start(() => StandbyConfigRules.UsesStandbySignal(major) && files.Exists(RemotePath.Join(data, VersionRules.StandbySignal)));
        var configText = Concurrently.Start(() => files.ReadTextAndMode(configFile));
        var hbaEdit = Concurrently.Start(() => PlanHbaCopy(primary, files, standby, hbaPath, request.Replication.UserName, log));
        // 17+: a standby whose slot the primary lists in synchronized_standby_slots is a failover candidate (FailoverSlots).
        var candidateList = Concurrently.Start(() => FailoverSlots.Supported(major) ? FailoverSlots.PrimaryCandidates(primary, log) : null);
        // Enable-PgReplicationSsl gave this host the cluster's CA: every upstream it follows is verified against it.
        var tlsRoot = Concurrently.Start(() => request.SslRootCert ?? (TlsFiles.HasRootCertificate(standby, files) ? TlsFiles.RootCertificatePath(standby) : null));
        // A copy made after Enable-PgReplicationSsl: the upstream's TLS settings, naming files this host lacks.
        var autoConf = RemotePath.Join(data, "postgresql.auto.conf");
        var tlsFacts = Concurrently.Start(() => ReadTlsFacts(standby, primary, shell, data,
            autoConf == configFile ? configText.Join().Text : files.ReadTextOrEmpty(autoConf), tlsRoot.Join() is not null, log));
        // Joined in the order of the checks, so the first failure reported is the one a step-by-step plan would meet.
        bin.Join();
        var identity = target.Join();
        if (identity.Kind is DataDirectoryKind.Empty or DataDirectoryKind.NotACluster or DataDirectoryKind.UnfinishedCopy)
            throw new InvalidOperationException($"On {standby.Name}, {data} holds no PostgreSQL data directory ({identity.Describe(primary)}): run Invoke-PgBaseBackup first.");
        if (identity.Kind == DataDirectoryKind.OtherMajor)
            throw new InvalidOperationException($"On {standby.Name}, {data} is {identity.Describe(primary)}, but {primary.Name} runs PostgreSQL {primary.ServerVersion}: it cannot be its standby.");
        // Turning a running primary into a standby is a demotion (Invoke-PgSwitchover's job), never a side effect of a pipeline
        // that was handed the wrong directory: this is how a primary would be reconfigured and restarted as its own standby.
        if (identity.Kind == DataDirectoryKind.RunningPrimary)
            throw new InvalidOperationException(
                $"On {standby.Name}, {data} is {identity.Describe(primary)}: Enable-PgHotStandby never reconfigures a running primary. " +
                "Give the standby's own data directory, or use Invoke-PgSwitchover to demote a primary.");
        // A data directory of another cluster would start, wait for WAL it can never get, and never stream.
        if (identity.SystemIdentifier is { } standbySysid && primary.SystemIdentifier is { } primarySysid &&
            standbySysid != primarySysid.ToString(CultureInfo.InvariantCulture))
            throw new InvalidOperationException(
                $"On {standby.Name}, {data} belongs to another cluster (system identifier {standbySysid}), not to {primary.Name} (system identifier {primarySysid}): " +
                $"it cannot be its standby. Copy {primary.Name} into it first (Invoke-PgBaseBackup -Force).");

        var (passText, passMode) = passFileText.Join();
        var passFileOpen = passMode is { } pm && (pm & 0x3F) != 0; // group or other bits: libpq ignores the file
        var passFileChange = passFileOpen || !PassFile.Contains(passText, primary.ComputerName, primary.Port, request.Replication.UserName, request.Replication.Password);

        var slot = request.SlotName ?? standby.SlotName;
        if (slot is not null) SlotNames.Validate(slot);
        var appName = slot ?? SlotNames.FromNodeName(standby.Name);
        var conninfo = new Dictionary<string, string>
        {
            ["host"] = primary.ComputerName,
            ["port"] = primary.Port.ToString(CultureInfo.InvariantCulture),
            ["user"] = request.Replication.UserName,
            ["passfile"] = passFile.Join(),
            ["application_name"] = appName,
        };
        // The slot sync worker logs in to a database of the primary (not a replication connection): primary_conninfo names it.
        var failoverCandidate = FailoverSlots.IsCandidate(candidateList.Join(), slot);
        if (failoverCandidate) conninfo["dbname"] = primary.Database;
        var tls = StandbyTls.Decide(tlsFacts.Join());
        if ((tlsRoot.Join() ?? (tls.RootToWrite is not null ? TlsFiles.RootCertificatePath(standby) : null)) is { } rootCert)
        {
            conninfo["sslmode"] = "verify-full";
            conninfo["sslrootcert"] = rootCert;
        }
        var desired = new Dictionary<string, string?>
        {
            ["primary_conninfo"] = Conninfo.Build(conninfo),
            ["primary_slot_name"] = slot,
            ["recovery_target_timeline"] = "latest",
            ["restore_command"] = request.RestoreCommand,
            ["archive_cleanup_command"] = request.ArchiveCleanupCommand,
        };

        if (failoverCandidate)
            foreach (var (name, value) in FailoverSlots.CandidateSettings) desired[name] = value;
        // Checked now, before the passfile is written: a value the config file cannot hold (CR, LF, NUL) is refused.
        foreach (var value in desired.Values) if (value is not null) OfflineSettings.Quote(value);

        bool writeSignal;
        if (StandbyConfigRules.UsesStandbySignal(major))
        {
            writeSignal = !signalExists.Join();
            desired["hot_standby"] = "on";
        }
        else
        {
            writeSignal = false;
            desired["standby_mode"] = "on";
            // hot_standby stays a server setting before 12: Apply puts it in postgresql.auto.conf.
        }
        var (text, configMode) = configText.Join();
        var current = OfflineSettings.Read(text);
        var changes = desired
            // A setting not asked for (null) is left as it is.
            .Where(d => d.Value is not null && (!current.TryGetValue(d.Key, out var v) || v != d.Value))
            .ToDictionary(d => d.Key, d => d.Value);

        var isRunning = identity.IsRunning;
        // What a running standby (12+) runs with: a setting it already has needs no restart to be written down (a
        // standby built by hand has hot_standby and recovery_target_timeline from the defaults, not from this file).
        var running = isRunning && StandbyConfigRules.UsesStandbySignal(major) && (changes.Count > 0 || VersionRules.Applies(VersionRules.PromoteTriggerFile, major))
            ? RunningSettings(standby, desired.Keys.Append(VersionRules.PromoteTriggerFile), log) : null;
        // A promote trigger file in a directory anyone can write to: anyone could promote the standby. The module
        // promotes with pg_promote() (pg_ctl promote before 12), so the setting goes: '' from 12 (it may come from
        // postgresql.conf, which the file overrides), trigger_file removed from recovery.conf before.
        if (VersionRules.Applies(VersionRules.PromoteTriggerFile, major))
        {
            var trigger = running?.GetValueOrDefault(VersionRules.PromoteTriggerFile).Setting ?? current.GetValueOrDefault(VersionRules.PromoteTriggerFile);
            if (InSharedDirectory(trigger, shell, standby.OsUser)) changes[VersionRules.PromoteTriggerFile] = "";
        }
        else if (!StandbyConfigRules.UsesStandbySignal(major) && InSharedDirectory(current.GetValueOrDefault("trigger_file"), shell, standby.OsUser))
        {
            changes["trigger_file"] = null;
        }
        // The standby's own server settings: from 12 in the recovery settings file (the same postgresql.auto.conf).
        var serverChanges = tls.ServerSettings.Where(t => current.GetValueOrDefault(t.Key) != t.Value).ToDictionary(t => t.Key, t => t.Value);
        if (StandbyConfigRules.UsesStandbySignal(major))
        {
            foreach (var (k, v) in serverChanges) changes[k] = v;
            serverChanges.Clear();
        }
        bool Restarts(string key, string? value) => running is not null && running.TryGetValue(key, out var now)
            ? now.Context == "postmaster" && now.Setting != (value ?? "")
            : key is not ("primary_conninfo" or "primary_slot_name") || !StandbyConfigRules.ReloadsPrimaryConninfo(major);

        var (hba, passFilePath) = (hbaEdit.Join(), passFile.Join());
        var plan = new HotStandbyPlan
        {
            HbaEdit = hba?.Edit, HbaOldText = hba?.OldText, HbaFilePath = hbaPath, FailoverCandidate = failoverCandidate,
            PassFilePath = passFilePath, PassFileChange = passFileChange, SettingChanges = changes, ConfigFile = configFile,
            ConfigText = text, ConfigFileModeChange = configMode is { } cm && (cm & 0x7) != 0,
            WriteSignal = writeSignal, ServerRunning = isRunning,
            RootCertificateToWrite = tls.RootToWrite, ServerSettingChanges = serverChanges, TlsWarning = tls.Warning,
            // Before 12 recovery.conf is read at start only.
            NeedsRestart = isRunning && (writeSignal || (StandbyConfigRules.UsesStandbySignal(major)
                ? changes.Any(c => Restarts(c.Key, c.Value)) : changes.Count > 0)),
        };
        if (passFileChange)
            plan.Steps.Add(passFileOpen && PassFile.Contains(passText, primary.ComputerName, primary.Port, request.Replication.UserName, request.Replication.Password)
                ? $"write {passFilePath} again with mode 0600 (its group or other users had access, and libpq ignores such a passfile)"
                : $"add the replication password of {request.Replication.UserName}@{primary.ComputerName}:{primary.Port} to {passFilePath} (0600)");
        if (tls.RootToWrite is not null)
            plan.Steps.Add($"write the cluster's CA certificate, read from {primary.Name}, to {TlsFiles.RootCertificatePath(standby)} (primary_conninfo verifies {primary.Name} with it)");
        foreach (var (k, v) in serverChanges) plan.Steps.Add($"set {k} = '{v}' in {autoConf}");
        foreach (var (k, v) in changes)
            plan.Steps.Add(v is null ? $"remove {k} from {configFile} (a trigger file anyone on the host could create)" : $"set {k} = '{v}' in {configFile}");
        if (plan.ConfigFileModeChange && changes.Count == 0) plan.Steps.Add($"write {configFile} again with mode 0600 (other users could read it)");
        if (hba?.Edit is { Changed: true } hbaChange)
            foreach (var line in hbaChange.AddedLines) plan.Steps.Add($"add '{line}' to {hbaPath} (a replication line of the primary, or for it)");
        if (writeSignal) plan.Steps.Add($"create {RemotePath.Join(data, VersionRules.StandbySignal)}");
        if (!isRunning) plan.Steps.Add($"start the server on {standby.Name}");
        else if (plan.NeedsRestart) plan.Steps.Add($"restart the server on {standby.Name}");
        else if (changes.Count > 0 || hba?.Edit is { Changed: true }) plan.Steps.Add($"reload the server on {standby.Name}");
        return plan;
    }

    public static PgNode Apply(HotStandbyRequest request, HotStandbyPlan plan, IHostShell shell, IOperationLog log)
    {
        var (standby, primary) = (request.Standby, request.Primary);
        if (plan.ChangesNothing)
            log.Verbose($"{standby.Name}: already configured as a standby of {primary.Name} and running; nothing to change.");

        // A running standby is re-pointed: if it does not stream from the new upstream after all, it is put back as it was
        // (its passfile and recovery settings, running), so a failed follow never leaves it worse than it was found.
        var passFileBefore = plan.PassFileChange ? HostFiles.ReadTextOrEmpty(shell, plan.PassFilePath, standby.OsUser) : null;
        if (plan.TlsWarning is not null) log.Warning(plan.TlsWarning);
        try
        {
            using var reloaded = Reconfigure(request, plan, passFileBefore, shell, log);
            WaitUntilStreaming(standby, primary, request.Timeout, log, reloaded);
        }
        catch (Exception ex) when (plan.ServerRunning && (plan.PassFileChange || plan.SettingChanges.Count > 0 || plan.RootCertificateToWrite is not null) &&
                                   ex is TimeoutException or HostCommandException or PgConnectionException or PgQueryException)
        {
            throw new InvalidOperationException(PutBack(request, plan, passFileBefore, shell, log, ex), ex);
        }
        standby.UpstreamNode = primary;
        return standby;
    }

    /// <summary>Writes the plan's changes and starts, restarts or reloads the server; returns the session that reloaded it, if any.</summary>
    private static PgSession? Reconfigure(HotStandbyRequest request, HotStandbyPlan plan, string? passFileBefore, IHostShell shell, IOperationLog log)
    {
        var (standby, primary) = (request.Standby, request.Primary);
        var data = standby.DataDirectory!;
        if (plan.PassFileChange)
        {
            var updated = PassFile.Upsert(passFileBefore ?? "", primary.ComputerName, primary.Port, "*", request.Replication.UserName, request.Replication.Password);
            HostFiles.Write(shell, plan.PassFilePath, Encoding.UTF8.GetBytes(updated), "0600", standby.OsUser);
            log.Verbose($"{standby.Name}: stored the replication password in {plan.PassFilePath} (0600).");
        }
        if (plan.RootCertificateToWrite is { } root)
        {
            TlsFiles.WriteRootCertificate(shell, standby, root);
            log.Verbose($"{standby.Name}: wrote the cluster's CA certificate, read from {primary.Name}, to {TlsFiles.RootCertificatePath(standby)}.");
        }
        if (plan.SettingChanges.Count > 0 || plan.ConfigFileModeChange)
        {
            // A mode change alone writes the same text again: HostFiles.Write sets 0600.
            SettingsFile.Update(shell, plan.ConfigFile, standby.OsUser, plan.SettingChanges, currentText: plan.ConfigText, rewriteUnchanged: true);
            log.Verbose(plan.SettingChanges.Count > 0
                ? $"{standby.Name}: set {string.Join(", ", plan.SettingChanges.Keys)} in {plan.ConfigFile}."
                : $"{standby.Name}: wrote {plan.ConfigFile} again with mode 0600.");
        }
        if (standby.MajorVersion is { } major && !StandbyConfigRules.UsesStandbySignal(major))
        {
            // The standby's own server settings (ssl off until it has a certificate) with hot_standby: one write, if any changes.
            SettingsFile.Update(shell, RemotePath.Join(data, "postgresql.auto.conf"), standby.OsUser,
                new Dictionary<string, string?>(plan.ServerSettingChanges) { ["hot_standby"] = "on" });
        }
        if (plan.HbaEdit is { Changed: true } edit)
        {
            // Through the one checked writer; a running server checks the file before the reload below.
            using (var hbaCheck = plan.ServerRunning ? PgSession.Open(standby, log: log) : null)
                PrimaryConfig.WriteCheckedHba(standby, shell, hbaCheck, plan.HbaOldText!, edit.NewText, log, plan.HbaFilePath);
            log.Verbose($"{standby.Name}: added {edit.AddedLines.Count} replication line(s) of {primary.Name} to {plan.HbaFilePath}.");
        }
        if (plan.WriteSignal) StandbyMarker.Write(standby, shell, log);

        if (!plan.ServerRunning) ServerController.Start(standby, shell, log, request.Timeout);
        else if (plan.NeedsRestart) ServerController.Restart(standby, shell, log, request.Timeout);
        else if (plan.SettingChanges.Count > 0 || plan.HbaEdit is { Changed: true })
        {
            // Kept open for the wait that follows: a re-pointed sibling is waited for without another login. Pooled (a
            // reload leaves no session state): the plan's read of the running settings left a connection there.
            var session = PgSession.Open(standby, log: log, connectTimeout: RunningStandbyConnectTimeout, pooled: true);
            try { session.Scalar<bool>("SELECT pg_catalog.pg_reload_conf()"); }
            catch { session.Dispose(); throw; }
            return session;
        }
        return null;
    }

    /// <summary>The passfile and the recovery settings as they were, the server restarted on them; the message says what happened.</summary>
    private static string PutBack(HotStandbyRequest request, HotStandbyPlan plan, string? passFileBefore, IHostShell shell, IOperationLog log, Exception cause)
    {
        var (standby, primary) = (request.Standby, request.Primary);
        var failed = $"{standby.Name} did not stream from {primary.Name} ({cause.Message})";
        try
        {
            if (passFileBefore is not null) HostFiles.Write(shell, plan.PassFilePath, Encoding.UTF8.GetBytes(passFileBefore), "0600", standby.OsUser);
            if (plan.SettingChanges.Count > 0) HostFiles.Write(shell, plan.ConfigFile, Encoding.UTF8.GetBytes(plan.ConfigText), "0600", standby.OsUser);
            if (plan.RootCertificateToWrite is not null) HostFiles.Remove(shell, TlsFiles.RootCertificatePath(standby), standby.OsUser);
            if (ServerController.IsRunning(standby, shell)) ServerController.Restart(standby, shell, log, request.Timeout);
            else ServerController.Start(standby, shell, log, request.Timeout);
            log.Warning($"{failed}: put back as it was (its passfile and recovery settings), and running.");
            return $"{failed}. It was put back as it was: its passfile and recovery settings restored, and it runs on them again.";
        }
        catch (Exception ex) when (ex is TimeoutException or HostCommandException or PgConnectionException or PgQueryException)
        {
            return $"{failed}, and putting it back failed too ({ex.Message}): check {plan.ConfigFile} and start it.";
        }
    }

    /// <summary>
    /// The TLS settings the standby's postgresql.auto.conf has (a copy of its upstream's), the files they name that this host
    /// lacks, and, when the host has no CA certificate, the upstream's (read over SQL: no shell on the upstream is needed).
    /// </summary>
    private static StandbyTlsFacts ReadTlsFacts(PgNode standby, PgNode upstream, IHostShell shell, string data, string autoConfText, bool hostHasRoot, IOperationLog log)
    {
        var all = OfflineSettings.Read(autoConfText);
        var settings = all.Where(a => a.Key == "ssl" || StandbyTls.FileSettings.Contains(a.Key)).ToDictionary(a => a.Key, a => a.Value);
        var named = StandbyTls.FileSettings.Where(n => settings.GetValueOrDefault(n) is { Length: > 0 })
            .Select(n => settings[n].StartsWith('/') ? settings[n] : RemotePath.Join(data, settings[n])).Distinct().ToList();
        var missing = Concurrently.Map(named, p => HostFiles.Exists(shell, p, standby.OsUser) ? null : p).OfType<string>().ToList();
        string? rootPem = null, unreadable = null;
        if (!hostHasRoot)
        {
            try
            {
                using var session = PgSession.Open(upstream, log: log, pooled: true);
                // Both settings are readable by any role (data_directory is not): a TLS of the user's own is left alone.
                var row = session.Query("SELECT pg_catalog.current_setting('ssl') AS ssl, pg_catalog.current_setting('ssl_cert_file') AS cert").Single();
                if (row.Text("ssl") == "on" && TlsFiles.RootCertificateBeside(row.Text("cert")) is { } path)
                {
                    if (upstream.MajorVersion is { } major && !VersionRules.CanReadServerFile(major, path, null))
                        unreadable = $"PostgreSQL {upstream.ServerVersion} reads no file outside its data directory over SQL";
                    else if (session.Scalar<string?>(
                                 "SELECT CASE WHEN (pg_catalog.pg_stat_file(@p, true)).size IS NOT NULL THEN pg_catalog.pg_read_file(@p) END", ("p", path)) is { Length: > 0 } pem)
                    {
                        if (pem.Contains("-----BEGIN CERTIFICATE-----", StringComparison.Ordinal)) rootPem = pem.TrimEnd() + "\n";
                        else unreadable = $"{path} on {upstream.Name} holds no PEM certificate";
                    }
                }
            }
            catch (Exception ex) when (ex is PgConnectionException or PgQueryException) { unreadable = ex.Message; }
        }
        return new StandbyTlsFacts
        {
            Standby = standby.Name, Upstream = upstream.Name, Settings = settings, MissingFiles = missing, HostHasRoot = hostHasRoot,
            UpstreamRootPem = rootPem, UpstreamRootUnreadable = unreadable,
        };
    }

    /// <summary>The settings a running standby runs with (name -> setting, context); null when it cannot be asked.</summary>
    private static Dictionary<string, (string? Setting, string Context)>? RunningSettings(PgNode standby, IEnumerable<string> names, IOperationLog log)
    {
        try
        {
            using var session = PgSession.Open(standby, log: log, connectTimeout: RunningStandbyConnectTimeout, pooled: true);
            return session.Query("SELECT s.name, s.setting, s.context FROM pg_catalog.pg_settings s WHERE s.name = ANY(@names)", ("names", names.Distinct().ToArray()))
                .ToDictionary(r => r.Text("name")!, r => (r.Text("setting"), r.Text("context")!), StringComparer.OrdinalIgnoreCase);
        }
        catch (Exception ex) when (ex is PgConnectionException or PgQueryException)
        {
            log.Verbose($"{standby.Name}: its running settings could not be read ({ex.Message}); a changed setting that needs a restart is counted as one.");
            return null;
        }
    }

    /// <summary>An absolute trigger file whose directory every local user may write to (its mode on the host, else /tmp and the like).</summary>
    private static bool InSharedDirectory(string? triggerFile, IHostShell shell, string user)
    {
        if (SecurityChecks.TriggerDirectory(triggerFile) is not { } directory) return false;
        try
        {
            if (HostFiles.Mode(shell, directory, user) is { } mode) return (mode & 0x2) != 0;
        }
        catch (HostCommandException) { }
        return SecurityChecks.IsSharedDirectory(directory);
    }

    /// <summary>
    /// The replication credential the standby uses now, found where libpq finds it (the password in its primary_conninfo,
    /// else its passfile): what Enable-PgHotStandby on a running standby moves to the passfile when no -Credential is given.
    /// </summary>
    public static NetworkCredential? CredentialInUse(PgNode standby, IHostShell shell) => StandbyFollow.CurrentReplicationCredential(standby, shell);

    /// <summary>Where a standby's recovery settings live: postgresql.auto.conf from 12, recovery.conf before.</summary>
    public static string RecoveryConfigFile(string dataDirectory, int major) =>
        RemotePath.Join(dataDirectory, StandbyConfigRules.UsesStandbySignal(major) ? "postgresql.auto.conf" : "recovery.conf");

    /// <summary>
    /// The replication lines of the primary's pg_hba.conf (one role, one network, SCRAM) that this node's
    /// file lacks, and one for the primary itself: its own lines name only its standbys, and after a
    /// switchover it streams from this node. Read through SQL on the primary, so no shell on the primary is needed.
    /// </summary>
    private static (string OldText, HbaEdit Edit)? PlanHbaCopy(PgNode primary, HostFileReads files, PgNode standby, string hbaPath, string replicationRole, IOperationLog log)
    {
        if (primary.HbaFile is { } hbaFile && primary.MajorVersion is { } major && !VersionRules.CanReadServerFile(major, hbaFile, primary.DataDirectory))
        {
            log.Warning($"{primary.Name} runs PostgreSQL {primary.ServerVersion}, which reads no file outside its data directory over SQL: " +
                        $"its replication lines in {hbaFile} were not copied to {standby.Name}'s {hbaPath}; add them there before it serves as a primary.");
            return null;
        }
        string primaryHba;
        string? primaryAddress;
        using (var session = PgSession.Open(primary, log: log, pooled: true))
        {
            primaryHba = session.Scalar<string>("SELECT pg_catalog.pg_read_file(pg_catalog.current_setting('hba_file'))") ?? "";
            primaryAddress = session.Scalar<string?>("SELECT pg_catalog.host(pg_catalog.inet_server_addr())");
        }
        var rules = new List<HbaReplicationRule>();
        foreach (var line in HbaFile.Parse(primaryHba).Where(l => l.IsRule && l.IsTcp && l.Method == "scram-sha-256"))
        {
            if (line.Database is not { Items.Count: 1 } db || !db.Items[0].IsKeyword("replication")) continue;
            if (line.User is not { Items.Count: 1 } user || user.Items[0].IsKeyword("all") || user.Items[0].Value.Length == 0 || user.Items[0].Value[0] is '+' or '@' or '/') continue;
            if (line.Address is not { } cidr || !cidr.Contains('/') || !HbaFile.TryParseCidr(cidr, out var address, out var prefix)) continue;
            rules.Add(new HbaReplicationRule(user.Items[0].Value, address, prefix, line.Type == "hostssl"));
        }
        // A loopback primary is on this host, where initdb's own lines already let it replicate.
        if (IPAddress.TryParse(primaryAddress, out var own) && !IPAddress.IsLoopback(own))
            rules.Add(new HbaReplicationRule(replicationRole, own, null, rules.Any(r => r.RequireSsl)));
        if (rules.Count == 0 || !files.Exists(hbaPath)) return null;
        var oldText = files.ReadTextAndMode(hbaPath).Text;
        return (oldText, HbaEditor.AddReplicationRules(oldText, rules));
    }

    private static readonly TimeSpan FastPolling = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan FastPollInterval = TimeSpan.FromMilliseconds(10);

    /// <summary>
    /// Polls pg_stat_wal_receiver until it says streaming, reporting how far replay is behind, then fills the
    /// standby node from the same session.
    /// </summary>
    /// <param name="openSession">A session to the running standby the caller has open (it reloaded it); otherwise one is opened once it accepts connections.</param>
    public static void WaitUntilStreaming(PgNode standby, PgNode primary, TimeSpan timeout, IOperationLog log, PgSession? openSession = null)
    {
        var started = DateTime.UtcNow;
        var deadline = started + timeout;
        var activity = $"Waiting for {standby.Name} to stream from {primary.Name}";
        if (openSession is null) ServerController.WaitUntilAccepting(standby, log, timeout);
        // One session for the whole wait: a poll is then a round trip, not a login.
        using var opened = openSession is null ? PgSession.Open(standby, log: NullOperationLog.Instance) : null;
        var session = openSession ?? opened!;
        while (true)
        {
            var row = session.Query("""
                SELECT (SELECT r.status FROM pg_catalog.pg_stat_wal_receiver r) AS status,
                       pg_catalog.pg_last_wal_replay_lsn()::text AS replay
                """).Single();
            var status = row.Text("status");
            if (status == "streaming")
            {
                long? behind = null;
                if (row.Text("replay") is { } replay)
                {
                    using var p = PgSession.Open(primary, log: NullOperationLog.Instance, pooled: true);
                    behind = p.Scalar<long?>($"SELECT pg_catalog.pg_wal_lsn_diff({WalPosition.Expression}, @replay::pg_lsn)::bigint", ("replay", replay));
                }
                log.Progress(new OperationProgress(activity, "streaming", 100, Completed: true));
                log.Verbose($"{standby.Name}: streaming from {primary.Name}" + (behind is > 0 ? $", replay {behind} bytes behind." : ", caught up."));
                NodeDiscovery.Discover(standby, session, log);
                return;
            }
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"{standby.Name} did not start streaming from {primary.Name} within {timeout.TotalSeconds:0} s (WAL receiver: {status ?? "not running"}). See the server log on {standby.Name}.");
            log.Progress(new OperationProgress(activity, $"WAL receiver: {status ?? "starting"}"));
            // A re-pointed standby streams a few tens of milliseconds after its reload: polled often at first, then as usual.
            Thread.Sleep(DateTime.UtcNow < started + FastPolling ? FastPollInterval : ServerController.PollInterval);
        }
    }
}
