using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using PgReplication.Core.Config;
using PgReplication.Core.Hosts;
using PgReplication.Core.Model;
using PgReplication.Core.Sql;
using PgReplication.Core.Versions;

namespace PgReplication.Core.Operations;

public enum RejoinMethod { Rewind, Reclone }

/// <summary>A rejoin refused or stopped (<see cref="ErrorReasons.RewindFailed"/>, <see cref="ErrorReasons.HalfRewound"/>).</summary>
public sealed class RejoinRefusedException : RefusedException
{
    public RejoinRefusedException(string reason, string what, string advice, PgNode? node = null) : base(reason, $"{what}. {advice}", node) { What = what; }
    /// <summary>What happened, without the advice.</summary>
    public string What { get; }
}

public sealed class RejoinRequest
{
    /// <summary>The former primary (or any diverged standby) to bring back.</summary>
    public required PgNode Node { get; init; }
    /// <summary>The primary it must follow now.</summary>
    public required PgNode Primary { get; init; }
    public NetworkCredential? Replication { get; init; }
    /// <summary>The node's data directory, where it was not discovered (a node that is down).</summary>
    public string? DataDirectory { get; init; }
    /// <summary>A fresh base backup instead of pg_rewind.</summary>
    public bool Reclone { get; init; }
    /// <summary>A new base backup when pg_rewind fails, or a directory an interrupted rewind left is found.</summary>
    public bool AllowReclone { get; init; }
    public TimeSpan Timeout { get; init; } = TimeSpan.FromMinutes(10);
}

/// <summary>
/// pg_rewind and the archive (<see cref="Rejoin.TargetWalFor"/>): Use, with the restore_command to write first when the node
/// has none of its own, and the config file to name when it is outside the data directory; Note says what is not possible.
/// </summary>
public sealed record TargetWal(bool Use, string? RestoreCommandToWrite, string? ConfigFile, string? Note);

public sealed class RejoinPlan
{
    public required RejoinMethod Method { get; init; }
    public required NetworkCredential Replication { get; init; }
    public bool Running { get; init; }
    /// <summary>Why pg_rewind cannot be used, when Method fell back to Reclone.</summary>
    public string? RewindImpossible { get; init; }
    /// <summary>The replication line the primary's pg_hba.conf lacks for this node (a copy or pg_rewind needs it first).</summary>
    public PrimaryConfigPlan? PrimaryHba { get; init; }
    /// <summary>The node already streams from the primary on its timeline: a second run changes nothing.</summary>
    public bool AlreadyFollowing { get; init; }
    /// <summary>Whether pg_rewind fetches WAL gone from the node's pg_wal from the archive (--restore-target-wal).</summary>
    public TargetWal? TargetWal { get; init; }
    /// <summary>The restore_command the node keeps as a standby: its own, else the cluster's archive-get (pgBackRest).</summary>
    public string? RestoreCommand { get; init; }
    public List<string> Steps { get; } = new();
}

/// <summary>
/// Turns a former primary into a standby of the new one: pg_rewind when its timeline diverged (needs
/// wal_log_hints or data checksums), or a new base backup; then the standby settings and a start.
/// </summary>
public static class Rejoin
{
    public static RejoinPlan Prepare(RejoinRequest request, IHostShell shell, IOperationLog log)
    {
        var (node, primary) = (request.Node, request.Primary);
        // A given role and password go into a passfile and a conninfo: refused before anything is stopped.
        if (request.Replication is { } given) PassFile.Line(primary.ComputerName, primary.Port, "*", given.UserName, given.Password);
        NodeDiscovery.Discover(primary, log);
        if (primary.Role != NodeRole.Primary)
            throw new InvalidOperationException($"{primary.Name} is not a primary (Role {primary.Role}): give the node to follow as -Primary.");
        if (request.DataDirectory is null && node.DataDirectory is null)
        {
            try { NodeDiscovery.Discover(node, log); }
            catch (Exception ex) when (ex is PgConnectionException or PgQueryException) { }
        }
        // Never a guess (the primary's path, say): what is there gets stopped, rewound or replaced.
        var data = request.DataDirectory ?? node.DataDirectory
            ?? throw new InvalidOperationException($"The data directory of {node.Name} is not known: discover the node while it runs, or give -DataDirectory.");
        node.DataDirectory = data;
        node.ServerVersion ??= primary.ServerVersion;
        node.ServerVersionNumber ??= primary.ServerVersionNumber;
        if (node.MajorVersion != primary.MajorVersion)
            throw new InvalidOperationException($"{node.Name} runs PostgreSQL {node.ServerVersion} but {primary.Name} runs {primary.ServerVersion}: a standby needs the same major.");
        var target = InspectTarget(node, primary, shell, log);

        var position = StandbyPositions.Read(node, log, TimeSpan.FromSeconds(5));
        // Configured to follow is not enough: a standby whose WAL the primary removed is set up right and never streams.
        if (position is { Reachable: true, InRecovery: true } && position.UpstreamHost == primary.ComputerName &&
            (position.UpstreamPort ?? PgNode.DefaultPort) == primary.Port && position.Timeline == primary.Timeline && Streams(node, log))
        {
            var done = new RejoinPlan { Method = RejoinMethod.Rewind, Replication = new NetworkCredential(), AlreadyFollowing = true };
            done.Steps.Add($"nothing to do: {node.Name} is already a standby of {primary.Name} on timeline {primary.Timeline}");
            return done;
        }

        var replication = request.Replication ?? node.ReplicationCredential ?? primary.ReplicationCredential ?? ReplicationOf(primary, log)
            ?? throw new ArgumentException($"No replication role for {node.Name}: give -Credential.");
        var running = target.IsRunning;
        string? impossible = null;
        if (target.Kind is DataDirectoryKind.Empty or DataDirectoryKind.UnfinishedCopy)
            impossible = $"{node.Name}'s {data} is {target.Describe(primary)}";
        else if (HalfRewound(node, shell) is { } half)
        {
            if (!request.Reclone && !request.AllowReclone)
                throw new RejoinRefusedException(ErrorReasons.HalfRewound, half, "Nothing was changed; use -AllowReclone (or -Reclone) for a new copy.");
            impossible = half;
        }
        else
        {
            impossible = RewindImpossible(ControlData.Read(node, shell), node);
            if (impossible is null && !request.Reclone && MissingProgram(node, shell, "pg_rewind") is { } program)
                impossible = WithoutRewindProgram(node, shell.HostName, program, request.AllowReclone);
        }
        if (!request.Reclone && impossible is not null) log.Warning($"pg_rewind cannot be used: {impossible}; taking a new base backup instead.");
        var method = request.Reclone || impossible is not null ? RejoinMethod.Reclone : RejoinMethod.Rewind;

        // The archive, where the cluster has one: pg_rewind fetches from it the node's WAL its pg_wal no longer holds, and
        // the node keeps reading it as a standby (a rewind or a copy brings the primary's postgresql.auto.conf, without it).
        var (ownRestore, archiveGet) = ArchiveOf(node, shell);
        var targetWal = method == RejoinMethod.Rewind
            ? TargetWalFor(node.MajorVersion!.Value, ownRestore, archiveGet, ConfigFileOutside(node, shell), node.Name) : null;
        if (targetWal?.Note is { } note) log.Warning(note);

        var plan = new RejoinPlan
        {
            Method = method, TargetWal = targetWal, RestoreCommand = ownRestore ?? archiveGet,
            Replication = replication, Running = running, RewindImpossible = impossible,
            PrimaryHba = StandbyFollow.UpstreamHbaPlan(primary, node, replication.UserName, TlsFiles.HasRootCertificate(node, shell)),
        };
        if (plan.PrimaryHba is { } hba)
            foreach (var line in hba.Changes.Where(c => c.Kind == PrimaryChangeKind.HbaLine)) plan.Steps.Add($"{line.Description} on {primary.Name}");
        if (running) plan.Steps.Add($"stop the server on {node.Name}: {target.Describe(primary)}");
        if (plan.Method == RejoinMethod.Rewind)
        {
            plan.Steps.Add($"bring {data} to a clean shutdown if it crashed (crash recovery in single-user mode, no connections)");
            if (targetWal is { Use: true } wal && wal.RestoreCommandToWrite is { } write)
                plan.Steps.Add($"set restore_command = '{write}' in {RemotePath.Join(data, "postgresql.auto.conf")} (the cluster's archive), for pg_rewind");
            plan.Steps.Add($"pg_rewind {data} from {primary.Name}" + (targetWal is { Use: true } ? " --restore-target-wal (WAL gone from its pg_wal comes from the archive)" : ""));
        }
        else plan.Steps.Add($"replace {data} ({target.Describe(primary)}) with a new base backup of {primary.Name}");
        plan.Steps.Add($"configure {node.Name} as a standby of {primary.Name}, start it and check it streams");
        return plan;
    }

    public static PgNode Apply(RejoinRequest request, RejoinPlan plan, IHostShell shell, IOperationLog log)
    {
        var (node, primary) = (request.Node, request.Primary);
        if (plan.AlreadyFollowing)
        {
            log.Verbose($"{node.Name}: already a standby of {primary.Name}; nothing to change.");
            return NodeDiscovery.Discover(node, log);
        }
        if (plan.PrimaryHba is { } hba) StandbyFollow.AddUpstreamHbaLines(hba, request.Timeout, log);
        if (plan.Running) ServerController.Stop(node, shell, log, request.Timeout);
        node.Role = NodeRole.Unknown;
        var method = plan.Method;
        if (method == RejoinMethod.Rewind)
        {
            var control = EnsureCleanShutdown(node, shell, log, request.Timeout);
            // Recovering a crashed directory replays the new primary's parameter changes into its control file (its
            // wal_log_hints off, say): pg_rewind would refuse what the plan found fit. Checked again; a new copy instead.
            if (RewindImpossible(control, node) is { } why)
            {
                log.Warning($"pg_rewind cannot be used after all: {why}; taking a new base backup instead.");
                method = RejoinMethod.Reclone;
            }
        }
        if (method == RejoinMethod.Rewind)
        {
            try
            {
                Rewind(node, primary, shell, log, request.Timeout, plan.TargetWal);
                BaseBackup.SetHostSettings(node, primary, node.DataDirectory!, shell, log);
            }
            catch (RejoinRefusedException ex) when (request.AllowReclone)
            {
                log.Warning($"{ex.What}; -AllowReclone: taking a new base backup instead.");
                method = RejoinMethod.Reclone;
            }
        }
        if (method == RejoinMethod.Reclone)
        {
            var backup = new BaseBackupRequest { Standby = node, Primary = primary, Replication = plan.Replication, Force = true, DataDirectory = node.DataDirectory, Timeout = request.Timeout };
            using var primaryShell = HostShells.Open(primary, log);
            var backupPlan = BaseBackup.Prepare(backup, shell, primaryShell, log);
            // The mark of a rewind that did not finish would keep the new copy from starting: its content goes now anyway.
            if (HalfRewound(node, shell) is not null) SetMode(shell, node, Convert.ToString(DirectoryMode(node, shell)!.Value & ~RewindMark, 8));
            BaseBackup.Run(backup, backupPlan, shell, primaryShell, log);
        }
        // Its own slot name: the copied postgresql.auto.conf names the slot the source used as a standby.
        var slot = SlotNames.ForFollower(node);
        var follow = StandbyFollow.Prepare(new FollowRequest
        {
            Standby = node, Primary = primary, Replication = plan.Replication, SlotName = slot, RestoreCommand = plan.RestoreCommand, Timeout = request.Timeout,
        }, shell, log);
        return StandbyFollow.Apply(follow, shell, log);
    }

    /// <summary>
    /// What the node's directory holds, checked before anything is stopped: a former member of the primary's cluster (a
    /// standby, a stopped or crashed copy, or a stray old primary still running on an older timeline), an empty directory or
    /// an unfinished copy (a reclone fills it). Never the primary's own directory, another cluster, or another major.
    /// </summary>
    private static DataDirectoryIdentity InspectTarget(PgNode node, PgNode primary, IHostShell shell, IOperationLog log)
    {
        var major = node.MajorVersion!.Value;
        using var primaryShell = HostShells.Open(primary, log);
        var target = DataDirectoryGuard.Inspect(shell, node.Name, node.DataDirectory!, node.OsUser,
            ServerController.TryBinDirectory(node, shell, out _, major), major, primary, primaryShell);
        var where = $"On {node.Name}, {target.Path} is {target.Describe(primary)}";
        if (target.Kind is DataDirectoryKind.Empty or DataDirectoryKind.UnfinishedCopy && !target.IsSourcePrimary && !target.OverlapsSourcePrimary)
            return target;
        // A stray old primary of this cluster (restarted after a failover, unfenced) is what a rejoin is for, when it is behind
        // the primary to follow; one on the same or a later timeline may hold the writes to keep.
        if (target.Kind == DataDirectoryKind.RunningPrimary && target.SameCluster(primary) && !target.IsSourcePrimary && !target.OverlapsSourcePrimary)
        {
            if (target.Timeline is { } own && primary.Timeline is { } theirs && own < theirs) return target;
            throw new InvalidOperationException(
                $"{where}, not behind {primary.Name} (timeline {primary.Timeline}): it may hold the writes to keep, so it is not stopped. " +
                "Check which of the two is the primary to keep; stop the other yourself.");
        }
        DataDirectoryGuard.EnsureMayReplace(target, primary, force: true, "rewind or replace", "");
        if (target.Kind == DataDirectoryKind.NotACluster || !target.SameCluster(primary))
            throw new InvalidOperationException(
                $"{where}: Restore-PgStandby brings back a former member of {primary.Name}'s cluster, and this is not one. " +
                "To replace it with a new copy, use Invoke-PgBaseBackup -Force -DataDirectory.");
        return target;
    }

    private static bool Streams(PgNode node, IOperationLog log)
    {
        using var session = PgSession.Open(node, log: log, connectTimeout: TimeSpan.FromSeconds(5));
        return session.Scalar<string>("SELECT r.status FROM pg_catalog.pg_stat_wal_receiver r") == "streaming";
    }

    /// <summary>Why pg_rewind would refuse the directory whose pg_controldata this is, or null.</summary>
    private static string? RewindImpossible(IReadOnlyDictionary<string, string> control, PgNode node) =>
        control.GetValueOrDefault("wal_log_hints setting") != "on" && control.GetValueOrDefault("Data page checksum version") is null or "0"
            ? $"{node.Name} has neither wal_log_hints nor data checksums, which pg_rewind needs" : null;

    /// <summary>The path of <paramref name="program"/> of the node's major on its host when it is not there (server-only builds), else null.</summary>
    private static string? MissingProgram(PgNode node, IHostShell shell, string program)
    {
        var path = RemotePath.Join(ServerController.BinDirectory(node, shell), program);
        return shell.Run(new HostCommand("test", "-x", path) { Timeout = TimeSpan.FromSeconds(30) }).Succeeded ? null : path;
    }

    /// <summary>
    /// A host without pg_rewind of the cluster's major: a new copy with -AllowReclone (the reason, for the plan), else a
    /// refusal that names the program and the host. Not a silent copy, unlike a cluster without wal_log_hints: a missing
    /// program is installed in a minute, and a copy of a large cluster may take hours.
    /// </summary>
    internal static string WithoutRewindProgram(PgNode node, string host, string program, bool allowReclone)
    {
        var why = $"{host} has no {program} (pg_rewind of PostgreSQL {node.MajorVersion}, which a rewind of {node.Name} needs)";
        if (!allowReclone)
            throw new RejoinRefusedException(ErrorReasons.RewindProgramMissing, why,
                $"Nothing was changed; install PostgreSQL {node.MajorVersion}'s client programs on {host} (or give New-PgNode -BinDirectory), or use -Reclone or -AllowReclone for a new copy.", node);
        return why;
    }

    /// <summary>How a stopped data directory is brought to the clean shutdown pg_rewind needs.</summary>
    public enum CleanShutdown { None, CrashRecovery, AsStandby }

    /// <summary>
    /// From pg_controldata's "Database cluster state". A directory that crashed as a primary is recovered by crash recovery
    /// in single-user mode, as pg_rewind (13+) does itself: it accepts no connection, and its end-of-recovery checkpoint is
    /// on the timeline the directory was on. Recovered as a standby instead, a primary that crashed before its first
    /// checkpoint after a promotion keeps a checkpoint of the timeline before, and pg_rewind (which takes the target's
    /// timeline from that checkpoint before 16) looks for the fork on the wrong timeline: "could not find previous WAL
    /// record". A directory that crashed in recovery (a standby) is recovered as a standby: crash recovery would end it.
    /// </summary>
    public static CleanShutdown CleanShutdownFor(string? state) => state switch
    {
        "shut down" or "shut down in recovery" => CleanShutdown.None,
        "in production" or "in crash recovery" or "shutting down" => CleanShutdown.CrashRecovery,
        _ => CleanShutdown.AsStandby,
    };

    /// <summary>
    /// pg_rewind refuses a data directory that crashed: recover it without letting it take a connection, then leave it shut
    /// down. Returns its pg_controldata as it is now (one read when it was shut down already).
    /// </summary>
    private static Dictionary<string, string> EnsureCleanShutdown(PgNode node, IHostShell shell, IOperationLog log, TimeSpan timeout)
    {
        var control = ControlData.Read(node, shell);
        var state = control.GetValueOrDefault("Database cluster state");
        switch (CleanShutdownFor(state))
        {
            case CleanShutdown.None: return control;
            case CleanShutdown.CrashRecovery:
                log.Verbose($"{node.Name}: the data directory is '{state}'; crash recovery in single-user mode before pg_rewind.");
                return RecoverSingleUser(node, shell, log, timeout);
            default:
                log.Verbose($"{node.Name}: the data directory is '{state}'; recovering it as a standby before pg_rewind.");
                StandbyMarker.Write(node, shell, log);
                ServerController.Start(node, shell, log, timeout);
                ServerController.Stop(node, shell, log, timeout);
                return ControlData.Read(node, shell);
        }
    }

    /// <summary>
    /// postgres --single on the directory, with no input: crash recovery, then a shutdown checkpoint. A recovery marker (a fenced
    /// primary's) is set aside meanwhile, since single-user mode refuses standby mode, and put back whatever happens.
    /// </summary>
    private static Dictionary<string, string> RecoverSingleUser(PgNode node, IHostShell shell, IOperationLog log, TimeSpan timeout)
    {
        var data = node.DataDirectory!;
        var markers = StandbyMarker.Present(node, shell);
        foreach (var marker in markers) Rename(shell, node, RemotePath.Join(data, marker), RemotePath.Join(data, marker + AsideSuffix));
        try
        {
            var arguments = new List<string> { "--single", "-D", data };
            if (ConfigFileOutside(node, shell) is { } config) arguments.AddRange(new[] { "-c", "config_file=" + config });
            arguments.Add("template1");
            var command = new HostCommand(RemotePath.Join(ServerController.BinDirectory(node, shell), "postgres"), arguments.ToArray()) { RunAs = node.OsUser, Timeout = timeout };
            log.Debug($"On {shell.HostName}: {command.ToShellText(shell.CurrentUser)}");
            var r = shell.Run(command);
            if (!r.Succeeded)
                throw new HostCommandException(shell.HostName, $"On {node.Name}, crash recovery of {data} in single-user mode failed; nothing was rewound. {r.Describe()}");
        }
        finally
        {
            foreach (var marker in markers) Rename(shell, node, RemotePath.Join(data, marker + AsideSuffix), RemotePath.Join(data, marker));
        }
        var control = ControlData.Read(node, shell);
        var after = control.GetValueOrDefault("Database cluster state");
        if (after != "shut down")
            throw new HostCommandException(shell.HostName, $"On {node.Name}, {data} is '{after}' after crash recovery in single-user mode, not shut down; nothing was rewound.");
        return control;
    }

    private const string AsideSuffix = ".pgreplication-aside";

    private static void Rename(IHostShell shell, PgNode node, string from, string to) =>
        shell.Run(new HostCommand("mv", "-f", "--", from, to) { RunAs = node.OsUser, Timeout = TimeSpan.FromSeconds(30) }).EnsureSuccess();

    /// <summary>The server's postgresql.conf when it is not in the data directory (Debian's /etc/postgresql/&lt;major&gt;/&lt;cluster&gt;).</summary>
    private static string? ConfigFileOutside(PgNode node, IHostShell shell)
    {
        var data = node.DataDirectory!;
        if (node.ConfigFile is { } known) return known == RemotePath.Join(data, "postgresql.conf") ? null : known;
        if (HostFiles.Exists(shell, RemotePath.Join(data, "postgresql.conf"), node.OsUser)) return null;
        return node.ClusterName is { } cluster && node.MajorVersion is { } major ? $"/etc/postgresql/{major}/{cluster}/postgresql.conf" : null;
    }

    /// <summary>
    /// Whether pg_rewind can fetch WAL gone from the node's pg_wal from the archive (pure). It runs the node's restore_command,
    /// which it reads from the node's config (postgres -C): the node's own, else the cluster's archive-get written first.
    /// Not before 13 (no --restore-target-wal), nor before 15 with the config outside the data directory (no --config-file,
    /// and postgres -C finds no postgresql.conf in the data directory): Note says so, and the rewind runs without it.
    /// </summary>
    public static TargetWal TargetWalFor(int major, string? ownRestoreCommand, string? archiveGet, string? configOutside, string node)
    {
        var own = string.IsNullOrWhiteSpace(ownRestoreCommand) ? null : ownRestoreCommand;
        if (own is null && archiveGet is null) return new TargetWal(false, null, null, null);
        if (!VersionRules.Applies(VersionRules.RewindRestoreTargetWal, major))
            return new TargetWal(false, null, null,
                $"pg_rewind of PostgreSQL {major} cannot fetch WAL from the archive (--restore-target-wal is 13+): if WAL it needs is gone from {node}'s pg_wal, " +
                "the rewind fails; -AllowReclone then takes a new copy");
        if (configOutside is not null && !VersionRules.Applies(VersionRules.RewindConfigFile, major))
            return new TargetWal(false, null, null,
                $"pg_rewind of PostgreSQL {major} reads restore_command only through a postgresql.conf in the data directory (--config-file is 15+), and {node}'s is " +
                $"{configOutside}: it cannot fetch WAL from the archive. If WAL it needs is gone from {node}'s pg_wal, the rewind fails; -AllowReclone then takes a new copy");
        return new TargetWal(true, own is null ? archiveGet : null, configOutside, null);
    }

    /// <summary>The node's own restore_command (as postgres -C reads its config), and the cluster's archive-get from the module's pgbackrest.conf on its host.</summary>
    private static (string? Own, string? ArchiveGet) ArchiveOf(PgNode node, IHostShell shell)
    {
        var data = node.DataDirectory!;
        var arguments = new List<string> { "-D", data, "-C", "restore_command" };
        if (ConfigFileOutside(node, shell) is { } config) arguments.AddRange(new[] { "-c", "config_file=" + config });
        var own = shell.Run(new HostCommand(RemotePath.Join(ServerController.BinDirectory(node, shell), "postgres"), arguments.ToArray())
        { RunAs = node.OsUser, Timeout = TimeSpan.FromSeconds(30) });
        var configPath = PgBackRest.ConfigPath(HostFiles.HomeOf(shell, node.OsUser));
        // archive-get reads the cluster's pg_control in the config's pg1-path: only a config naming this directory serves.
        var archiveGet = PgBackRest.ParseHostConfig(HostFiles.ReadTextOrEmpty(shell, configPath, node.OsUser)) is { Stanza: { } stanza, PgPath: { } path } &&
                         path.TrimEnd('/') == data.TrimEnd('/')
            ? PgBackRest.ArchiveGetCommand(configPath, stanza) : null;
        return (own.Succeeded && own.StandardOutput.Trim() is { Length: > 0 } value ? value : null, archiveGet);
    }

    private static void Rewind(PgNode node, PgNode primary, IHostShell shell, IOperationLog log, TimeSpan timeout, TargetWal? targetWal)
    {
        var admin = primary.AdminCredential ?? throw new ArgumentException($"pg_rewind needs the admin role of {primary.Name}: give New-PgNode -Credential.");
        var home = HostFiles.HomeOf(shell, node.OsUser);
        var passFile = RemotePath.Join(home, $".pgpass.pgreplication-rewind.{Guid.NewGuid():N}");
        var source = Conninfo.Build(new Dictionary<string, string>
        {
            ["host"] = primary.ComputerName, ["port"] = primary.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["user"] = admin.UserName, ["dbname"] = primary.Database, ["passfile"] = passFile, ["connect_timeout"] = "10",
        });
        // pg_rewind takes the source's timeline from its control file, which a just-promoted primary updates only at
        // its next checkpoint; before that it sees one timeline and says "no rewind required" (fixed in 16).
        using (var session = PgSession.Open(primary, log: log, commandTimeout: timeout))
        {
            try { session.Execute("CHECKPOINT"); }
            catch (PgQueryException ex) when (ex.SqlState == "42501")
            {
                throw new RefusedException(ErrorReasons.CheckpointNeedsSuperuser,
                    $"On {primary.Name}, the admin role {admin.UserName} may not run CHECKPOINT, which a rewind needs first: " +
                    (VersionRules.Applies(VersionRules.PgCheckpoint, primary.MajorVersion ?? VersionRules.NewestMajor)
                        ? "grant it pg_checkpoint (New-PgAdminRole does), or use -Reclone." : "before 15 only a superuser may; use a superuser's credential, or -Reclone."), primary);
            }
        }
        HostFiles.Write(shell, passFile, Encoding.UTF8.GetBytes(PassFile.Line(primary.ComputerName, primary.Port, "*", admin.UserName, admin.Password)), "0600", node.OsUser);
        // While pg_rewind copies, the directory is neither the old one nor the new one, and its control file (written last) still says
        // "shut down": a start would run it as a primary. Group write on the directory makes every PostgreSQL refuse to start it
        // ("invalid permissions") until the rewind has finished; an interrupted rewind leaves the mark, which a later run finds.
        var mode = DirectoryMode(node, shell) ?? Convert.ToInt32("700", 8);
        SetMode(shell, node, Convert.ToString(mode | RewindMark, 8));
        var copyStarted = false;
        var arguments = new List<string> { "--target-pgdata=" + node.DataDirectory, "--source-server=" + source, "--progress" };
        if (targetWal is { Use: true })
        {
            // pg_rewind reads restore_command from the node's config: the cluster's archive-get, where the node has none of its own
            // (pg_rewind then copies the primary's postgresql.auto.conf over it, and the standby settings follow).
            if (targetWal.RestoreCommandToWrite is { } write)
                SettingsFile.Update(shell, RemotePath.Join(node.DataDirectory!, "postgresql.auto.conf"), node.OsUser, new Dictionary<string, string?> { ["restore_command"] = write });
            arguments.Add("--restore-target-wal");
            if (targetWal.ConfigFile is { } config) arguments.Add("--config-file=" + config);
            log.Verbose($"{node.Name}: pg_rewind with --restore-target-wal: WAL gone from its pg_wal comes from the archive.");
        }
        try
        {
            var command = new HostCommand(RemotePath.Join(ServerController.BinDirectory(node, shell), "pg_rewind"), arguments.ToArray())
            {
                RunAs = node.OsUser, Timeout = timeout,
                OnErrorLine = line =>
                {
                    if (line.Contains("need to copy", StringComparison.Ordinal)) copyStarted = true;
                    log.Progress(new OperationProgress($"pg_rewind of {node.Name}", line));
                },
            };
            log.Debug($"On {shell.HostName}: {command.ToShellText(shell.CurrentUser)}");
            var r = shell.Run(command);
            if (!r.Succeeded)
            {
                copyStarted |= r.StandardError.Contains("need to copy", StringComparison.Ordinal);
                // Before its copy pg_rewind has changed nothing: the directory is as it was, and may start again.
                if (!copyStarted) SetMode(shell, node, Convert.ToString(mode, 8));
                throw new RejoinRefusedException(ErrorReasons.RewindFailed,
                    $"On {node.Name}, pg_rewind from {primary.Name} failed " +
                    (copyStarted ? $"while copying: {node.DataDirectory} is half-rewound and marked so that it cannot start"
                                 : "before changing anything") + $" ({r.Describe()})",
                    "Use -AllowReclone (or -Reclone) for a new copy.");
            }
            SetMode(shell, node, Convert.ToString(mode, 8));
            log.Verbose($"{node.Name}: pg_rewind from {primary.Name} done.");
        }
        finally { HostFiles.Remove(shell, passFile, node.OsUser); }
    }

    /// <summary>Group write, which PostgreSQL refuses on a data directory: set while pg_rewind runs.</summary>
    private const int RewindMark = 0b000_010_000; // 0020

    private static int? DirectoryMode(PgNode node, IHostShell shell) => HostFiles.Mode(shell, node.DataDirectory!, node.OsUser);

    private static void SetMode(IHostShell shell, PgNode node, string octal) =>
        shell.Run(new HostCommand("chmod", octal, "--", node.DataDirectory!) { RunAs = node.OsUser, Timeout = TimeSpan.FromSeconds(30) }).EnsureSuccess();

    /// <summary>Why the directory is one an interrupted pg_rewind left (it carries the mark set while pg_rewind runs), or null.</summary>
    private static string? HalfRewound(PgNode node, IHostShell shell) =>
        DirectoryMode(node, shell) is { } mode && (mode & RewindMark) != 0
            ? $"{node.Name}'s {node.DataDirectory} has group write (mode {Convert.ToString(mode, 8)}), the mark Restore-PgStandby sets while pg_rewind runs: " +
              "a rewind did not finish there, and the directory is half-rewound (PostgreSQL refuses to start it)"
            : null;

    /// <summary>The replication role the new primary used as a standby: its own passfile still has it.</summary>
    private static NetworkCredential? ReplicationOf(PgNode primary, IOperationLog log)
    {
        using var shell = HostShells.Open(primary, log);
        return StandbyFollow.CurrentReplicationCredential(primary, shell);
    }
}
