using System.Globalization;
using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using PgReplication.Core.Config;
using PgReplication.Core.Hosts;
using PgReplication.Core.Model;
using PgReplication.Core.Sql;
using PgReplication.Core.Versions;

namespace PgReplication.Core.Operations;

/// <summary>A tablespace of the primary: copied to the same path on the standby.</summary>
public sealed record TablespaceInfo(string Name, string Location);

/// <summary>What happens to the standby's slot on the primary before the copy.</summary>
public enum BaseBackupSlotAction
{
    /// <summary>No slot (-NoSlot).</summary>
    None,
    /// <summary>The slot is there (and, on a cluster Patroni manages, one Patroni keeps).</summary>
    UseExisting,
    /// <summary>Created by SQL (no Patroni).</summary>
    Create,
    /// <summary>Declared a Patroni permanent slot, then made (or found) by Patroni itself on its leader.</summary>
    KeepWithPatroni,
}

/// <summary>The slot's action and the words -WhatIf shows for it.</summary>
public sealed record BaseBackupSlotDecision(BaseBackupSlotAction Action, string? Step);

/// <summary>What Invoke-PgBaseBackup was asked to do.</summary>
public sealed class BaseBackupRequest
{
    public required PgNode Standby { get; init; }
    public required PgNode Primary { get; init; }
    public required NetworkCredential Replication { get; init; }
    public string? DataDirectory { get; init; }
    public string? BinDirectory { get; init; }
    public string? SlotName { get; init; }
    public bool NoSlot { get; init; }
    public bool Force { get; init; }
    /// <summary>Have pg_verifybackup re-read every file against its manifest checksum, not only check it is there at its size.</summary>
    public bool VerifyChecksums { get; init; }
    /// <summary>null: chosen for the copy at hand (<see cref="BaseBackup.ChooseMethod"/>).</summary>
    public BaseBackupMethod? Method { get; init; }
    /// <summary>Streams of -Method Parallel; null: <see cref="BaseBackup.DefaultStreams"/>.</summary>
    public int? Streams { get; init; }
    public TimeSpan Timeout { get; init; } = TimeSpan.FromHours(2);
    public CancellationToken Cancel { get; init; }
}

/// <summary>The checks done and the steps a base backup will take (what -WhatIf shows).</summary>
public sealed class BaseBackupPlan
{
    public required string DataDirectory { get; init; }
    public required string BinDirectory { get; init; }
    /// <summary>The method this copy uses, asked or chosen, and why.</summary>
    public BaseBackupMethod Method { get; init; }
    public string MethodReason { get; init; } = "";
    public int Streams { get; init; } = 1;
    /// <summary>The primary's databases, in bytes (pg_database_size), when asked.</summary>
    public long DatabaseBytes { get; init; }
    public IReadOnlyList<TablespaceInfo> Tablespaces { get; init; } = Array.Empty<TablespaceInfo>();
    /// <summary>Tablespace places on the standby that hold something and are emptied first (-Force).</summary>
    public IReadOnlyList<string> TablespacesToEmpty { get; init; } = Array.Empty<string>();
    /// <summary>-Method Parallel over an interrupted copy of the same primary: its files last modified before this (the primary's clock, Unix seconds) are kept.</summary>
    public double? ResumeSince { get; init; }
    public string? SlotName { get; init; }
    public BaseBackupSlotAction SlotAction { get; init; }
    /// <summary>Patroni's view of slots when it manages the primary's cluster (read when a slot is used).</summary>
    public PatroniSlotFacts? Patroni { get; init; }
    public bool TargetInUse { get; init; }
    public bool ServerRunning { get; init; }
    public string? ConfigDirectory { get; init; }
    /// <summary>The target already holds a copy of this primary: a second run changes nothing.</summary>
    public bool AlreadyCopied { get; init; }
    /// <summary>The target holds a copy an earlier run did not finish (no global/pg_control): it cannot start, and is redone.</summary>
    public bool Unfinished { get; init; }
    /// <summary>Processes an earlier run left writing into the target (its connection was lost): pg_basebackup, a parallel copy's receivers.</summary>
    public IReadOnlyList<int> LeftoverProcesses { get; init; } = Array.Empty<int>();
    /// <summary>A WAL sender that still holds the slot for an earlier connection from this standby.</summary>
    public int? StaleSlotHolder { get; init; }
    /// <summary>What the target directory held when the plan was made.</summary>
    public DataDirectoryIdentity? Target { get; init; }
    /// <summary>-Method PgBackRest: the restore from the repository.</summary>
    public BackRestRestorePlan? BackRest { get; init; }
    public List<string> Steps { get; } = new();
}

/// <summary>Copies a primary into a standby's data directory (pg_basebackup run on the standby host).</summary>
public static class BaseBackup
{
    private static readonly TimeSpan Short = TimeSpan.FromSeconds(30);
    // How the primary sees our copies (pg_stat_replication.application_name).
    private const string CopyApplicationName = "pgreplication_basebackup";

    /// <summary>Read-only checks; throws naming the host when the backup cannot or must not run.</summary>
    public static BaseBackupPlan Prepare(BaseBackupRequest request, IHostShell standbyShell, IHostShell primaryShell, IOperationLog log)
    {
        var (standby, primary) = (request.Standby, request.Primary);
        if (primary.Role != NodeRole.Primary)
            throw new RefusedException(ErrorReasons.SourceNotPrimary, $"{primary.Name} is not a primary (Role {primary.Role}); a base backup is taken from the primary.");
        var major = primary.MajorVersion ?? throw new InvalidOperationException($"The version of {primary.Name} is not known: discover it first.");
        if (standby.Role is NodeRole.Primary or NodeRole.Standby && standby.MajorVersion is { } sm && sm != major)
            throw new RefusedException(ErrorReasons.VersionMismatch, $"{standby.Name} runs PostgreSQL {standby.ServerVersion} but {primary.Name} runs {primary.ServerVersion}: a standby needs the same major.");

        // Hosts of one cluster mostly have the same layout: without -DataDirectory, and none discovered, the primary's path
        // is the guess. A guess may fill an empty directory, or (-Force) replace a member of this primary's cluster there
        // (a standby, a stopped copy, a crashed former primary); it never replaces anything else.
        var guessedPath = request.DataDirectory is null && standby.DataDirectory is null;
        var dataDirectory = request.DataDirectory ?? standby.DataDirectory ?? primary.DataDirectory
            ?? throw new InvalidOperationException($"No data directory for {standby.Name}: give -DataDirectory.");
        ValidatePath(dataDirectory, standby.Name);
        if (request.BinDirectory is not null) ValidatePath(request.BinDirectory, standby.Name, "program directory");
        // Hosts of one cluster mostly have the same layout: the primary's folder is the first guess (checked, and kept on
        // the node only once found there).
        var preferredBin = request.BinDirectory ?? standby.BinDirectory ?? primary.BinDirectory ?? ServerController.TryBinDirectory(primary, primaryShell, out _);
        // The role and password go into a passfile and a conninfo: refused now, not after the slot is made.
        PassFile.Line(primary.ComputerName, primary.Port, "*", request.Replication.UserName, request.Replication.Password);

        string? slot = request.NoSlot ? null : SlotNames.Validate(request.SlotName ?? SlotNames.FromNodeName(standby.Name));
        var facts = GatherFacts(request, standbyShell, primaryShell, major, dataDirectory, preferredBin, slot, log);
        var decision = Decide(request, facts, major, dataDirectory, guessedPath, standbyShell.HostKeyFingerprint is not null);
        log.Verbose($"{standby.Name}: copying with -Method {decision.Method}: {decision.MethodReason}.");
        var (bin, method, reason, target, leftovers) = (facts.BinDirectory, decision.Method, decision.MethodReason, facts.Target, facts.Leftovers);
        var (inUse, running, alreadyCopied, unfinished) = (decision.TargetInUse, decision.ServerRunning, decision.AlreadyCopied, decision.Unfinished);
        var (databaseBytes, tablespaces) = (facts.DatabaseBytes, facts.Tablespaces);
        var slotExists = facts.SlotExists;
        var slotDecision = DecideSlot(slot, slotExists, facts.Patroni, primary.Name);
        int? staleHolder = null;
        if (slotExists && !running)
        {
            using var session = PgSession.Open(primary, log: log, pooled: true);
            staleHolder = CopyLeftovers.StaleSlotHolder(session, slot!, standby, primary, CopyApplicationName);
        }

        // An interrupted -Method Parallel copy of this primary, on this boot of the standby: its unchanged files are kept.
        // Whatever the earlier run left writing is stopped before the target is listed (Apply), so it can be resumed too.
        var resumeSince = method == BaseBackupMethod.Parallel && unfinished
            ? ParallelCopy.ResumableSince(standbyShell, standby, dataDirectory, primary) : null;
        var emptyTablespaces = CheckTablespaces(tablespaces, standby, primary, standbyShell, primaryShell, major, method, resumeSince is not null, request.Force);

        var configDirectory = primary.Control == ServerControl.PgCtlCluster && primary.ConfigFile is not null
            ? RemotePath.Parent(primary.ConfigFile) : null;

        var plan = new BaseBackupPlan
        {
            DataDirectory = dataDirectory, BinDirectory = bin, SlotName = slot, SlotAction = slotDecision.Action, Patroni = facts.Patroni,
            Method = method, MethodReason = reason, Streams = request.Streams ?? DefaultStreams, DatabaseBytes = databaseBytes,
            Tablespaces = tablespaces, ResumeSince = resumeSince, TablespacesToEmpty = emptyTablespaces,
            TargetInUse = inUse, ServerRunning = running, ConfigDirectory = configDirectory, Target = target,
            // A re-sync by rsync is what -Method Rsync is for; pg_basebackup over an existing copy is pointless.
            AlreadyCopied = alreadyCopied && !request.Force && !Resyncs(method) && leftovers.Count == 0,
            Unfinished = unfinished, LeftoverProcesses = leftovers, StaleSlotHolder = staleHolder, BackRest = decision.BackRest,
        };
        if (plan.AlreadyCopied)
        {
            plan.Steps.Add($"nothing: {dataDirectory} already holds a copy of {primary.Name} (same system identifier); -Force copies it again");
            return plan;
        }
        if (leftovers.Count > 0)
            plan.Steps.Add($"stop what an earlier copy left writing into {dataDirectory} (PID {string.Join(", ", leftovers)}: pg_basebackup, or a parallel copy's receivers)");
        if (staleHolder is { } holder)
            plan.Steps.Add($"end the WAL sender (PID {holder}) on {primary.Name} that still holds the slot {slot} for an earlier connection from {standby.Name}");
        if (slotDecision.Action == BaseBackupSlotAction.KeepWithPatroni) plan.Steps.Add(slotDecision.Step!);
        var holds = target.Describe(primary);
        if (running) plan.Steps.Add($"stop the server running in {dataDirectory}: {holds}");
        if (unfinished) plan.Steps.Add(resumeSince is not null
            ? $"resume the copy in {dataDirectory}: an earlier -Method Parallel copy of {primary.Name} did not finish; its files unchanged since are kept"
            : $"{(Resyncs(method) ? "complete" : "empty")} {dataDirectory}: an earlier copy did not finish (no global/pg_control)");
        else if (inUse && method == BaseBackupMethod.Rsync) plan.Steps.Add($"re-sync {dataDirectory} with rsync: {holds}");
        else if (inUse && method == BaseBackupMethod.PgBackRest) plan.Steps.Add($"remove global/pg_control in {dataDirectory} (so nothing half-restored can start), then restore over it: {holds}");
        else if (inUse) plan.Steps.Add($"empty {dataDirectory}: {holds}");
        foreach (var location in emptyTablespaces) plan.Steps.Add($"empty {location} on {standby.Name} (-Force): the place of a tablespace of {primary.Name}");
        if (slotDecision.Action != BaseBackupSlotAction.KeepWithPatroni && slotDecision.Step is { } slotStep) plan.Steps.Add(slotStep);
        var spaces = tablespaces.Count > 0 ? $" and {tablespaces.Count} tablespace(s) ({string.Join(", ", tablespaces.Select(t => t.Location))})" : "";
        if (decision.BackRest is { } restore)
            plan.Steps.AddRange(BackRestRestore.Steps(restore, standby, dataDirectory));
        else if (method == BaseBackupMethod.Rsync)
            plan.Steps.Add($"start a non-exclusive backup on {primary.Name}, rsync its data directory{spaces} to {standby.Name}:{dataDirectory}, stop the backup and write backup_label");
        else if (method == BaseBackupMethod.Parallel)
            plan.Steps.Add($"start a non-exclusive backup on {primary.Name}, send its data directory{spaces} to {standby.Name}:{dataDirectory} in up to {plan.Streams} tar streams over SSH, " +
                           "then its WAL, backup_label, one syncfs, and global/pg_control last");
        else
            plan.Steps.Add($"copy {primary.Name} into {standby.Name}:{dataDirectory} with {RemotePath.Join(bin, "pg_basebackup")} (-X stream, fast checkpoint)");
        if (configDirectory is not null) plan.Steps.Add($"copy {configDirectory} from {primary.Name} to {standby.Name}");
        plan.Steps.Add($"set port {standby.Port} and listen_addresses for {standby.Name}");
        return plan;
    }

    /// <summary>Takes the backup as planned. On failure the target is emptied, so no half-copy can start.</summary>
    public static PgNode Run(BaseBackupRequest request, BaseBackupPlan plan, IHostShell standbyShell, IHostShell primaryShell, IOperationLog log)
    {
        var (standby, primary) = (request.Standby, request.Primary);
        var target = plan.DataDirectory;
        if (plan.AlreadyCopied)
        {
            // The copy may have been finished on the host by a run that had lost its connection, before this host's own settings.
            var completed = false;
            if (plan.ConfigDirectory is not null && primary.ConfigFile is { } config && !HostFiles.Exists(standbyShell, config, standby.OsUser))
            {
                CopyConfigDirectory(plan.ConfigDirectory, standby, primary, standbyShell, primaryShell, log);
                completed = true;
            }
            completed |= SetHostSettings(standby, primary, target, standbyShell, log);
            log.Verbose($"{standby.Name}: {target} already holds a copy of {primary.Name}; " +
                        (completed ? "it was not copied again, only this host's settings were completed." : "nothing changed."));
            return Fill(standby, primary, plan, request);
        }

        if (plan.LeftoverProcesses.Count > 0) CopyLeftovers.Stop(standbyShell, plan.LeftoverProcesses, standby, log);
        if (plan.StaleSlotHolder is { } holder) CopyLeftovers.EndSlotHolder(primary, plan.SlotName!, holder, log);
        // Before the target is stopped or emptied: when Patroni does not make the slot, the standby is left as it was.
        if (plan.SlotAction == BaseBackupSlotAction.KeepWithPatroni) PatroniSlots.Keep(primary, primaryShell, plan.Patroni!, plan.SlotName!, log);
        if (plan.ServerRunning)
        {
            log.Verbose($"{standby.Name}: stopping the server in {target} (-Force).");
            standbyShell.Run(new HostCommand(RemotePath.Join(plan.BinDirectory, "pg_ctl"), "stop", "-D", target, "-m", "fast", "-w", "-t", "120")
            { RunAs = standby.OsUser, Timeout = TimeSpan.FromSeconds(150) }).EnsureSuccess();
        }
        if (plan.TargetInUse && (plan.Method == BaseBackupMethod.PgBaseBackup || plan.Method == BaseBackupMethod.Parallel && plan.ResumeSince is null))
            EmptyDirectory(standbyShell, target, standby.OsUser, log, standby.Name);
        foreach (var location in plan.TablespacesToEmpty) EmptyDirectory(standbyShell, location, standby.OsUser, log, standby.Name);

        if (plan.SlotAction == BaseBackupSlotAction.Create) ReplicationSlots.Create(primary, plan.SlotName!, log);

        var started = DateTime.UtcNow;
        if (plan.BackRest is { } restore)
            BackRestRestore.Run(request, restore, target, standbyShell, log);
        else if (plan.Method == BaseBackupMethod.Rsync)
            RsyncCopy.Run(request, plan, standbyShell, primaryShell, log);
        else if (plan.Method == BaseBackupMethod.Parallel)
            ParallelCopy.Run(request, plan, standbyShell, primaryShell, log);
        else
            PgBaseBackupCopy(request, plan, standbyShell, log, started);

        try
        {
            Verify(request, plan, standbyShell, log);
            if (plan.ConfigDirectory is not null) CopyConfigDirectory(plan.ConfigDirectory, standby, primary, standbyShell, primaryShell, log);
            SetHostSettings(standby, primary, plan.DataDirectory, standbyShell, log);
        }
        catch (Exception ex) when (ex is HostCommandException or PgConnectionException or PgQueryException or InvalidOperationException)
        {
            // A copy without this host's own settings is no standby yet: removed as after a failed copy, where the host
            // still answers (a rerun finishes one it could not remove).
            try { EmptyDirectory(standbyShell, target, standby.OsUser, log, standby.Name); } catch (HostCommandException) { }
            throw;
        }
        log.Verbose($"{standby.Name}: base backup done in {(DateTime.UtcNow - started).TotalSeconds:0.0} s.");
        return Fill(standby, primary, plan, request);
    }

    private static void PgBaseBackupCopy(BaseBackupRequest request, BaseBackupPlan plan, IHostShell standbyShell, IOperationLog log, DateTime started)
    {
        var (standby, primary) = (request.Standby, request.Primary);
        var target = plan.DataDirectory;
        var passfile = $"/tmp/pgreplication-{Guid.NewGuid():N}.pgpass";
        try
        {
            HostFiles.Write(standbyShell, passfile,
                Encoding.UTF8.GetBytes(PassFile.Line(primary.ComputerName, primary.Port, "*", request.Replication.UserName, request.Replication.Password) + "\n"),
                "0600", standby.OsUser);
            var conninfo = Conninfo.Build(new Dictionary<string, string>
            {
                ["host"] = primary.ComputerName,
                ["port"] = primary.Port.ToString(CultureInfo.InvariantCulture),
                ["user"] = request.Replication.UserName,
                ["passfile"] = passfile,
                ["application_name"] = CopyApplicationName,
                ["connect_timeout"] = "15",
                // A primary that vanishes (network cut, host down) is noticed in about 15 s instead of TCP's hours.
                ["keepalives"] = "1", ["keepalives_idle"] = "5", ["keepalives_interval"] = "2", ["keepalives_count"] = "3",
                ["tcp_user_timeout"] = "15000",
            });
            // --no-sync: one syncfs per file system afterwards (CopyLeftovers.AfterCopy) instead of an fsync per file.
            var args = new List<string> { "-d", conninfo, "-D", target, "-X", "stream", "-c", "fast", "--progress", "--no-password", "--no-sync" };
            // The manifest's CRC32C of every file is computed by the WAL sender as it sends, in line with the copy
            // (a fifth of its time here, bench/analysis.md); it is only read when -VerifyChecksums asks for it. Without
            // it pg_verifybackup still checks every file is there at its size, and the WAL.
            if (!request.VerifyChecksums && VersionRules.Applies(VersionRules.BackupManifest, primary.MajorVersion!.Value))
                args.Add("--manifest-checksums=NONE");
            if (plan.SlotName is not null) args.AddRange(new[] { "-S", plan.SlotName });
            // The host itself removes the passfile when pg_basebackup ends, however it ends, and marks a finished copy as a
            // standby: if our connection to the host is lost meanwhile, pg_basebackup goes on, and neither the password
            // nor a copy that would start as a second primary may stay behind.
            var (marker, markerText) = StandbyConfigRules.UsesStandbySignal(request.Primary.MajorVersion!.Value)
                ? (RemotePath.Join(target, VersionRules.StandbySignal), "")
                : (RemotePath.Join(target, "recovery.conf"), "standby_mode = 'on'\n");
            args.InsertRange(0, new[] { "-c", CopyLeftovers.AfterCopy, "sh", passfile, marker, markerText, target, RemotePath.Join(plan.BinDirectory, "pg_basebackup") });

            var activity = $"Base backup of {primary.Name} to {standby.Name}";
            var command = new HostCommand("sh", args.ToArray())
            {
                RunAs = standby.OsUser,
                Timeout = request.Timeout,
                OnErrorLine = line => ReportProgress(line, activity, started, log),
            };
            log.Verbose($"{standby.Name}: pg_basebackup from {primary.Name} into {target}.");
            log.Debug($"On {standby.Name}: {command.ToShellText(standbyShell.CurrentUser)}");
            var result = standbyShell.Run(command);
            log.Progress(new OperationProgress(activity, "done", 100, Completed: true));
            if (!result.Succeeded)
            {
                EmptyDirectory(standbyShell, target, standby.OsUser, log, standby.Name);
                throw new HostCommandException(standbyShell.HostName,
                    $"The base backup of {primary.Name} to {standby.Name} failed; {target} was emptied so nothing half-copied can start. {result.Describe()}");
            }
            log.Verbose($"{standby.Name}: pg_basebackup finished in {(DateTime.UtcNow - started).TotalSeconds:0.0} s.");
        }
        finally
        {
            // Never in place of the error that got us here (a lost connection fails this too).
            try { standbyShell.Run(new HostCommand("rm", "-f", "--", passfile) { RunAs = standby.OsUser, Timeout = Short }).EnsureSuccess(); }
            catch (HostCommandException ex) { log.Warning($"On {standby.Name}, the passfile {passfile} could not be removed ({ex.Message}); the host removes it when pg_basebackup ends."); }
        }
    }

    /// <summary>Streams of -Method Parallel unless -Streams says: past 4 the two-core hosts measured here gain nothing (bench/analysis.md).</summary>
    public const int DefaultStreams = 4;

    /// <summary>From this size the default is -Method Parallel: a copy that long is resumed, not restarted, when cut.</summary>
    public const long ParallelFromBytes = 64L << 30;

    /// <summary>
    /// The standby's slot (pure). Without Patroni: used if there, else created by SQL. On a cluster Patroni manages, a slot
    /// made by SQL lives only until Patroni next reloads its slot list on the leader (its start, a promotion, a slot it made
    /// or saw vanish): it drops every idle slot it does not know, and the slot is idle until pg_basebackup's WAL stream
    /// connects, during a whole -Method Parallel or Rsync copy, and from the copy's end until the standby streams. So it is
    /// declared a permanent slot first and Patroni makes it (Enable-PgHotStandby removes the entry once the standby is a
    /// member, whose own slot has the name). With use_slots off Patroni keeps no slot at all: refused, naming -NoSlot.
    /// </summary>
    public static BaseBackupSlotDecision DecideSlot(string? slot, bool slotExists, PatroniSlotFacts? patroni, string primaryName)
    {
        if (slot is null) return new(BaseBackupSlotAction.None, null);
        if (patroni is null)
            return slotExists ? new(BaseBackupSlotAction.UseExisting, $"use the existing slot {slot} on {primaryName}")
                : new(BaseBackupSlotAction.Create, $"create the physical slot {slot} on {primaryName}");
        if (!patroni.UseSlots)
            throw new RefusedException(ErrorReasons.PatroniSlotsOff,
                $"Patroni manages {primaryName}'s cluster with use_slots off: it drops every replication slot on its leader, so the slot {slot} would not last. " +
                "Nothing was changed. Give -NoSlot, or turn use_slots on in Patroni's dynamic configuration.");
        if (slotExists && patroni.PermanentSlots.Contains(slot))
            return new(BaseBackupSlotAction.UseExisting, $"use the slot {slot} on {primaryName}, a permanent slot of Patroni's");
        return new(BaseBackupSlotAction.KeepWithPatroni,
            $"declare {slot} a permanent slot in Patroni's dynamic configuration (PATCH /config) and wait until Patroni has it on {primaryName}: " +
            "Patroni drops an idle slot it does not know; Enable-PgHotStandby removes the entry once the standby is a member");
    }

    /// <summary>What <see cref="Prepare"/> reads before it decides, asked at once on both hosts and the primary's server.</summary>
    internal sealed record Facts
    {
        /// <summary>The standby's PostgreSQL programs (of the primary's major).</summary>
        public required string BinDirectory { get; init; }
        /// <summary>pg_basebackup --version there; null when another method was asked (it needs no client programs).</summary>
        public CommandResult? ToolVersion { get; init; }
        public required string StandbyArchitecture { get; init; }
        public required string PrimaryArchitecture { get; init; }
        /// <summary>What the target directory holds: decided on before anything is stopped or emptied.</summary>
        public required DataDirectoryIdentity Target { get; init; }
        /// <summary>Processes an earlier run left writing into the target: pg_basebackup, a parallel copy's receivers.</summary>
        public required IReadOnlyList<int> Leftovers { get; init; }
        public bool SlotExists { get; init; }
        /// <summary>Patroni's slot settings when it manages the primary's cluster (read only when a slot is used).</summary>
        public PatroniSlotFacts? Patroni { get; init; }
        public long DatabaseBytes { get; init; }
        public required IReadOnlyList<TablespaceInfo> Tablespaces { get; init; }
        /// <summary>Both hosts are this machine (no SSH between them): -Method Parallel and Rsync copy host to host anyway.</summary>
        public bool BothLocal { get; init; }
        /// <summary>The standby's host as its shell names it (in errors about its programs).</summary>
        public required string StandbyHost { get; init; }
        /// <summary>-Method PgBackRest: both hosts' pgBackRest configs and the repository's state.</summary>
        public BackRestRestoreFacts? BackRest { get; init; }
    }

    /// <summary>The method chosen and why, what the target holds as the decision read it, and the pgBackRest restore's plan.</summary>
    internal sealed record Decision(BaseBackupMethod Method, string MethodReason, bool TargetInUse, bool ServerRunning, bool AlreadyCopied, bool Unfinished,
        BackRestRestorePlan? BackRest = null);

    /// <summary>Methods that bring a directory already there to the copy's content instead of emptying it first.</summary>
    private static bool Resyncs(BaseBackupMethod method) => method is BaseBackupMethod.Rsync or BaseBackupMethod.PgBackRest;

    // Each fact is a round trip: all are started at once, and joined in Decide's order of use.
    private static Facts GatherFacts(BaseBackupRequest request, IHostShell standbyShell, IHostShell primaryShell, int major, string dataDirectory,
        string? guessedBin, string? slot, IOperationLog log)
    {
        var (standby, primary) = (request.Standby, request.Primary);
        var binTask = Concurrently.Start(() => ServerController.BinDirectory(standby, standbyShell, major, guessedBin));
        // pg_basebackup is asked in the folder guessed above while that folder is checked (one round trip less),
        // and asked again only when the check settles on another folder.
        CommandResult? ToolVersion(string folder) => request.Method is null or BaseBackupMethod.PgBaseBackup
            ? standbyShell.Run(new HostCommand(RemotePath.Join(folder, "pg_basebackup"), "--version") { Timeout = Short }) : null;
        var toolVersion = Concurrently.Start(() => ToolVersion(guessedBin ?? binTask.Join()));
        var standbyArchTask = Concurrently.Start(() => Arch(standbyShell));
        var primaryArchTask = Concurrently.Start(() => Arch(primaryShell));
        // What the target holds (nothing, a copy of this primary, another cluster, the primary itself under another name).
        // pg_controldata of the guessed folder: the version check follows.
        var targetTask = Concurrently.Start(() => DataDirectoryGuard.Inspect(standbyShell, standby.Name, dataDirectory, standby.OsUser,
            guessedBin ?? binTask.Join(), major, primary, primaryShell));
        var slotExistsTask = Concurrently.Start(() => slot is not null && ReplicationSlots.Exists(primary, slot, log));
        var patroniTask = Concurrently.Start(() => slot is null ? null : PatroniSlots.Read(primary, log));
        var sizeTask = Concurrently.Start(() => SizeAndTablespaces(primary, log));
        // What a run that lost its connection leaves: pg_basebackup still writing (or its WAL streamer, which
        // outlives it), a parallel copy's receivers (into the data directory or a tablespace's folder), and a copy
        // without global/pg_control (sent last), which can never start. A rerun stops the processes and redoes the copy.
        // Listed beside the primary's size query; which of them write into the target is decided once the tablespaces are known.
        var leftoversTask = Concurrently.Start(() => CopyLeftovers.List(standbyShell, standby.OsUser));
        var backRestTask = request.Method == BaseBackupMethod.PgBackRest
            ? Concurrently.Start(() => BackRestRestore.Gather(standby, standbyShell, primary, primaryShell)) : null;

        var bin = binTask.Join();
        var version = (guessedBin ?? bin) == bin ? toolVersion.Join() : ToolVersion(bin);
        var (bytes, tablespaces) = sizeTask.Join();
        return new Facts
        {
            BinDirectory = bin, ToolVersion = version,
            StandbyArchitecture = standbyArchTask.Join(), PrimaryArchitecture = primaryArchTask.Join(),
            Target = targetTask.Join(), Leftovers = CopyLeftovers.WritersInto(leftoversTask.Join(), tablespaces.Select(t => t.Location).Prepend(dataDirectory).ToList()),
            SlotExists = slotExistsTask.Join(), Patroni = patroniTask.Join(),
            DatabaseBytes = bytes, Tablespaces = tablespaces,
            BothLocal = standby.Access == HostAccess.Local && primary.Access == HostAccess.Local, StandbyHost = standbyShell.HostName,
            BackRest = backRestTask?.Join(),
        };
    }

    /// <summary>
    /// The refusals and the method, from the facts alone: the client tool (for pg_basebackup), the architectures, and
    /// what the target holds against -Force and a guessed path. Throws naming the host and the value.
    /// </summary>
    internal static Decision Decide(BaseBackupRequest request, Facts facts, int major, string dataDirectory, bool guessedPath, bool overSsh)
    {
        var (standby, primary) = (request.Standby, request.Primary);
        var tool = RemotePath.Join(facts.BinDirectory, "pg_basebackup");
        Exception? toolProblem = null;
        if (facts.ToolVersion is { } version)
        {
            if (!version.Succeeded || !PgVersion.TryParse(version.StandardOutput, out var toolMajor))
                toolProblem = new HostCommandException(facts.StandbyHost,
                    $"On {standby.Name}, {tool} is missing or does not run ({version.StandardError.Trim()}); -Method Parallel and -Method Rsync need no client programs.");
            else if (toolMajor.Major != major)
                toolProblem = new RefusedException(ErrorReasons.VersionMismatch, $"On {standby.Name}, {tool} is version {toolMajor} but {primary.Name} runs {primary.ServerVersion}.");
        }
        var (method, reason) = ChooseMethod(request.Method, toolProblem?.Message, facts.DatabaseBytes, overSsh || facts.BothLocal, request.VerifyChecksums);
        if (method == BaseBackupMethod.PgBaseBackup && toolProblem is not null) throw toolProblem;

        if (facts.StandbyArchitecture != facts.PrimaryArchitecture)
            throw new RefusedException(ErrorReasons.ArchitectureMismatch,
                $"{standby.Name} is {facts.StandbyArchitecture} but {primary.Name} is {facts.PrimaryArchitecture}: a physical copy needs the same architecture.");

        var target = facts.Target;
        var (inUse, running) = (target.InUse, target.IsRunning);
        // "Already a copy": a standby or a stopped copy of this primary, never the primary itself.
        var alreadyCopied = target.IsCopyOf(primary);
        var unfinished = target.Kind == DataDirectoryKind.UnfinishedCopy;
        // Left alone, or redone without -Force: a copy of this primary (pg_basebackup leaves it; rsync re-syncs a stopped
        // one), and a copy an earlier run did not finish. Anything else in the way needs -Force, and -Force has limits.
        var needsForce = inUse && !unfinished && !(alreadyCopied && (!Resyncs(method) || !running));
        if (needsForce || inUse && request.Force)
        {
            DataDirectoryGuard.EnsureMayReplace(target, primary, request.Force, running ? "stop and empty" : "empty",
                running ? "Use -Force to stop it and replace the directory." : "Use -Force to empty it and copy the primary over it.");
            if (guessedPath && !target.SameCluster(primary) && !unfinished)
                throw new RefusedException(ErrorReasons.GuessedPathNotOurs,
                    $"On {standby.Name}, {dataDirectory} is {target.Describe(primary)}. That path is {primary.Name}'s data directory, taken as a guess for " +
                    $"{standby.Name}: on a guessed path -Force replaces only a member of {primary.Name}'s cluster. Name the directory with -DataDirectory to replace what is there.");
        }
        var restore = method == BaseBackupMethod.PgBackRest
            ? BackRestRestore.Decide(standby, primary, facts.BackRest ?? throw new InvalidOperationException("The pgBackRest facts were not read."),
                dataDirectory, inUse, request.Streams)
            : null;
        return new Decision(method, reason, inUse, running, alreadyCopied, unfinished, restore);
    }

    /// <summary>The method for a copy (pure): the one asked for, else the one that wins for the size at hand, and why.</summary>
    public static (BaseBackupMethod Method, string Reason) ChooseMethod(BaseBackupMethod? asked, string? toolProblem, long databaseBytes, bool hostToHost, bool verifyChecksums)
    {
        if (asked is { } m) return (m, "asked for");
        var size = $"{databaseBytes / 1073741824.0:0.0} GiB of databases";
        if (toolProblem is not null)
            return hostToHost ? (BaseBackupMethod.Parallel, $"pg_basebackup cannot be used ({toolProblem})") : (BaseBackupMethod.PgBaseBackup, toolProblem);
        if (verifyChecksums) return (BaseBackupMethod.PgBaseBackup, "-VerifyChecksums: pg_verifybackup re-reads every file against the checksums of pg_basebackup's manifest");
        if (!hostToHost) return (BaseBackupMethod.PgBaseBackup, "the standby is not reached over SSH, so the primary cannot send to it");
        return databaseBytes >= ParallelFromBytes
            ? (BaseBackupMethod.Parallel, $"{size}, at least {ParallelFromBytes >> 30} GiB: a copy this long resumes where it stopped if it is cut")
            : (BaseBackupMethod.PgBaseBackup, $"{size}, under {ParallelFromBytes >> 30} GiB: pg_basebackup (no fsync per file, one syncfs) is the fastest copy measured (bench/analysis.md)");
    }

    private static (long Bytes, IReadOnlyList<TablespaceInfo> Tablespaces) SizeAndTablespaces(PgNode primary, IOperationLog log)
    {
        using var session = PgSession.Open(primary, log: log, pooled: true);
        var bytes = session.Scalar<long>("SELECT COALESCE(sum(pg_catalog.pg_database_size(oid)), 0)::bigint FROM pg_catalog.pg_database WHERE datallowconn");
        var spaces = session.Query("""
            SELECT spcname::text AS name, pg_catalog.pg_tablespace_location(oid) AS location FROM pg_catalog.pg_tablespace
             WHERE spcname NOT IN ('pg_default', 'pg_global') ORDER BY spcname
            """).Select(r => new TablespaceInfo(r.Text("name")!, r.Text("location") ?? ""))
            // An empty location is a tablespace inside the data directory (allow_in_place_tablespaces): copied with it.
            .Where(t => t.Location.Length > 0).ToList();
        return (bytes, spaces);
    }

    /// <summary>
    /// Each tablespace goes to the primary's path on the standby: refused when that is the primary's own directory (the
    /// hosts share the file system there), and when something is there, unless -Force (emptied) or a copy is resumed.
    /// </summary>
    private static List<string> CheckTablespaces(IReadOnlyList<TablespaceInfo> tablespaces, PgNode standby, PgNode primary, IHostShell standbyShell,
        IHostShell primaryShell, int major, BaseBackupMethod method, bool resuming, bool force)
    {
        var toEmpty = new List<string>();
        foreach (var t in tablespaces)
        {
            ValidatePath(t.Location, primary.Name, "tablespace directory");
            var there = Concurrently.Start(() => DataDirectoryGuard.Inspect(standbyShell, standby.Name, t.Location, standby.OsUser, null, major));
            var own = DataDirectoryGuard.Inspect(primaryShell, primary.Name, t.Location, primary.OsUser, null, major);
            var target = DataDirectoryGuard.Compare(there.Join(), own);
            if (target.IsSourcePrimary || target.OverlapsSourcePrimary)
                throw new RefusedException(ErrorReasons.TablespaceSharedWithPrimary,
                    $"On {standby.Name}, {t.Location} is where {primary.Name} keeps its tablespace {t.Name} (the two hosts share that directory): " +
                    "the standby's copy of a tablespace goes to the same path on its own host. Give the standby a file system of its own there.");
            // rsync --delete and pgbackrest --delta bring a tablespace's directory to the copy's content themselves.
            if (!target.InUse || resuming || Resyncs(method)) continue;
            if (!force)
                throw new RefusedException(ErrorReasons.TablespaceNotEmpty,
                    $"On {standby.Name}, {t.Location}, where the tablespace {t.Name} of {primary.Name} goes, is not empty. Use -Force to empty it, or empty it yourself.");
            toEmpty.Add(t.Location);
        }
        return toEmpty;
    }

    /// <summary>The standby is a copy of the primary: same version, same layout, same roles.</summary>
    private static PgNode Fill(PgNode standby, PgNode primary, BaseBackupPlan plan, BaseBackupRequest request)
    {
        var target = plan.DataDirectory;
        standby.ServerVersion = primary.ServerVersion;
        standby.ServerVersionNumber = primary.ServerVersionNumber;
        standby.SystemIdentifier = primary.SystemIdentifier;
        standby.DataDirectory = target;
        standby.BinDirectory = plan.BinDirectory;
        standby.Control = primary.Control;
        standby.ClusterName = primary.ClusterName;
        standby.ConfigFile = plan.ConfigDirectory is not null ? primary.ConfigFile : RemotePath.Join(target, "postgresql.conf");
        standby.HbaFile = plan.ConfigDirectory is not null ? primary.HbaFile : RemotePath.Join(target, "pg_hba.conf");
        standby.DataChecksums = primary.DataChecksums;
        standby.UpstreamNode = primary;
        standby.Upstream = $"{primary.ComputerName}:{primary.Port}";
        standby.SlotName = plan.SlotName;
        standby.ReplicationCredential = request.Replication;
        // The copy has the primary's roles and passwords: whatever credential the empty host was given is moot now.
        standby.AdminCredential = primary.AdminCredential ?? standby.AdminCredential;
        return standby;
    }

    // pg_basebackup --progress: "  123456/2345678 kB (5%), 0/1 tablespace (...)"
    private static readonly Regex ProgressLine = new(@"(\d+)/(\d+) kB \((\d+)%\)", RegexOptions.Compiled);

    private static void ReportProgress(string line, string activity, DateTime started, IOperationLog log)
    {
        var m = ProgressLine.Match(line);
        if (!m.Success) return;
        var done = long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
        var total = long.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture);
        var seconds = Math.Max(0.001, (DateTime.UtcNow - started).TotalSeconds);
        var rate = done / 1024.0 / seconds;
        log.Progress(new OperationProgress(activity,
            $"{done / 1024.0:0.0} of {total / 1024.0:0.0} MiB, {rate:0.0} MiB/s",
            (int)Math.Clamp(int.Parse(m.Groups[3].Value, CultureInfo.InvariantCulture), 0, 100)));
    }

    private static void Verify(BaseBackupRequest request, BaseBackupPlan plan, IHostShell shell, IOperationLog log)
    {
        var (standby, primary) = (request.Standby, request.Primary);
        var sysid = DataDirectoryGuard.Inspect(shell, standby.Name, plan.DataDirectory, standby.OsUser, plan.BinDirectory, primary.MajorVersion!.Value).SystemIdentifier;
        if (sysid is null || sysid != primary.SystemIdentifier?.ToString(CultureInfo.InvariantCulture))
        {
            EmptyDirectory(shell, plan.DataDirectory, standby.OsUser, log, standby.Name);
            throw new InvalidOperationException($"On {standby.Name}, the copy's system identifier ({sysid ?? "none"}) is not {primary.Name}'s ({primary.SystemIdentifier}); the copy was removed.");
        }
        var verify = RemotePath.Join(plan.BinDirectory, "pg_verifybackup");
        var manifest = RemotePath.Join(plan.DataDirectory, "backup_manifest");
        if (shell.Run(new HostCommand("test", "-x", verify, "-a", "-f", manifest) { RunAs = standby.OsUser, Timeout = Short }).Succeeded)
        {
            // Every file there at its size and the WAL complete, by default; re-reading the whole copy for its
            // checksums costs as much as a tenth of the copy (a fresh copy over TCP rarely differs): on request.
            var arguments = request.VerifyChecksums ? new[] { "--quiet", plan.DataDirectory } : new[] { "--quiet", "--skip-checksums", plan.DataDirectory };
            var r = shell.Run(new HostCommand(verify, arguments) { RunAs = standby.OsUser, Timeout = TimeSpan.FromMinutes(30) });
            if (!r.Succeeded)
            {
                EmptyDirectory(shell, plan.DataDirectory, standby.OsUser, log, standby.Name);
                throw new HostCommandException(shell.HostName, $"On {standby.Name}, pg_verifybackup rejected the copy; it was removed. {r.Describe()}");
            }
            log.Verbose($"{standby.Name}: pg_verifybackup checked the copy against its manifest" + (request.VerifyChecksums ? ", checksums included." : " (files and sizes, WAL)."));
        }
    }

    /// <summary>Debian keeps config in /etc/postgresql/&lt;major&gt;/&lt;cluster&gt;: the standby gets the same files at the same place.</summary>
    private static void CopyConfigDirectory(string directory, PgNode standby, PgNode primary, IHostShell standbyShell, IHostShell primaryShell, IOperationLog log)
    {
        // Directories first, empty ones included: Debian's postgresql.conf includes conf.d, and the server refuses to start without it.
        var directories = primaryShell.Run(new HostCommand("find", directory, "-type", "d", "-printf", "%m %p\\n") { RunAs = primary.OsUser, Timeout = Short }).EnsureSuccess();
        foreach (var line in directories.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var (dirMode, path) = (line[..line.IndexOf(' ')], line[(line.IndexOf(' ') + 1)..]);
            standbyShell.Run(new HostCommand("mkdir", "-p", "-m", dirMode, path) { RunAs = standby.OsUser, Timeout = Short }).EnsureSuccess();
        }
        var list = primaryShell.Run(new HostCommand("find", directory, "-type", "f") { RunAs = primary.OsUser, Timeout = Short }).EnsureSuccess();
        foreach (var file in list.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var content = primaryShell.Run(new HostCommand("cat", "--", file) { RunAs = primary.OsUser, Timeout = Short }).EnsureSuccess().StandardOutput;
            var mode = primaryShell.Run(new HostCommand("stat", "-c", "%a", file) { RunAs = primary.OsUser, Timeout = Short }).EnsureSuccess().StandardOutput.Trim();
            HostFiles.Write(standbyShell, file, Encoding.UTF8.GetBytes(content), mode.PadLeft(4, '0'), standby.OsUser);
        }
        log.Verbose($"{standby.Name}: copied {directory} from {primary.Name}.");
    }

    /// <summary>
    /// Settings that belong to the host, not the copy: the port, and the addresses to listen on. The copy
    /// came with the source's listen_addresses (from postgresql.conf or postgresql.auto.conf); the target
    /// gets its own address in its place, in postgresql.auto.conf, which wins over postgresql.conf.
    /// </summary>
    internal static bool SetHostSettings(PgNode target, PgNode source, string dataDirectory, IHostShell shell, IOperationLog log)
    {
        var autoConf = RemotePath.Join(dataDirectory, "postgresql.auto.conf");
        var text = HostFiles.ReadTextOrEmpty(shell, autoConf, target.OsUser);
        var current = OfflineSettings.Read(text);
        var changes = new Dictionary<string, string?>();
        var port = target.Port.ToString(CultureInfo.InvariantCulture);
        if ((target.Port != source.Port || current.ContainsKey("port")) && current.GetValueOrDefault("port") != port)
            changes["port"] = port;
        string? listen;
        using (var session = PgSession.Open(source, log: log))
            listen = session.Scalar<string>("SELECT pg_catalog.current_setting('listen_addresses')");
        if (current.TryGetValue("listen_addresses", out var own)) listen = own;
        if (listen is not null && listen.Trim() != "*")
        {
            var addresses = listen.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
                .Select(a => a == source.ComputerName ? target.ComputerName : a).Distinct().ToList();
            if (!addresses.Contains(target.ComputerName)) addresses.Add(target.ComputerName);
            var value = string.Join(',', addresses);
            if (value != own) changes["listen_addresses"] = value;
        }
        if (changes.Count == 0) return false;
        SettingsFile.Update(shell, autoConf, target.OsUser, changes, currentText: text);
        log.Verbose($"{target.Name}: set {string.Join(", ", changes.Select(c => $"{c.Key} = {c.Value}"))} for this host.");
        return true;
    }

    internal static void EmptyDirectory(IHostShell shell, string directory, string user, IOperationLog log, string node)
    {
        // Contents only: the directory itself may be a mount point or have its owner and mode set by the admin.
        shell.Run(new HostCommand("find", directory, "-mindepth", "1", "-delete") { RunAs = user, Timeout = TimeSpan.FromMinutes(10) });
        log.Verbose($"{node}: emptied {directory}.");
    }

    private static string Arch(IHostShell shell) =>
        shell.Run(new HostCommand("uname", "-m") { Timeout = Short }).EnsureSuccess().StandardOutput.Trim();

    private static void ValidatePath(string path, string host, string what = "data directory")
    {
        if (!path.StartsWith('/') || path.Any(c => c is '\0' or '\n' or '\r') || path.TrimEnd('/').Length < 2)
            throw new ArgumentException($"'{ConfigValues.Printable(path)}' is not a usable {what} for {host}: give an absolute path.");
        // With -Force the directory is emptied: it must be the one the path names, not one '..' leads to.
        if (path.Split('/').Contains(".."))
            throw new ArgumentException($"'{path}' is not a usable {what} for {host}: give it without '..'.");
    }
}
