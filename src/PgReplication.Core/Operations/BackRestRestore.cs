using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using PgReplication.Core.Config;
using PgReplication.Core.Hosts;
using PgReplication.Core.Model;
using PgReplication.Core.Versions;

namespace PgReplication.Core.Operations;

/// <summary>What Invoke-PgBaseBackup -Method PgBackRest reads before it decides (<see cref="BackRestRestore.Gather"/>).</summary>
public sealed record BackRestRestoreFacts
{
    /// <summary>The module's pgbackrest.conf on the primary's host, and its text ("" when there is none).</summary>
    public required string PrimaryConfigPath { get; init; }
    public required string PrimaryConfigText { get; init; }
    /// <summary>The standby's OS user's home, and its own module-written pgbackrest.conf ("" when there is none).</summary>
    public required string StandbyHome { get; init; }
    public required string StandbyConfigPath { get; init; }
    public required string StandbyConfigText { get; init; }
    /// <summary>`pgbackrest info --output=json` run on the standby's host (so through its own SSH to the repository); null without its config.</summary>
    public CommandResult? Info { get; init; }
}

/// <summary>The restore decided: which backup, from where, with what, and the standby's pgbackrest.conf when it must change.</summary>
public sealed record BackRestRestorePlan(string Repository, string Stanza, string BackupLabel, string ConfigPath, string? ConfigToWrite,
    int ProcessMax, bool Delta, string RestoreCommand, IReadOnlyList<string> Arguments);

/// <summary>
/// Invoke-PgBaseBackup -Method PgBackRest: the standby is built from the latest backup in the pgBackRest repository
/// (Initialize-PgBackRest), on another host than the primary, instead of from the primary: `pgbackrest restore --type=standby`
/// runs on the standby's host and pulls the files from the repository host, so the primary's disk and network carry none of
/// the copy. WAL since the backup comes from the archive (restore_command archive-get), then from the primary by streaming.
/// </summary>
public static class BackRestRestore
{
    private static readonly TimeSpan Short = TimeSpan.FromSeconds(60);

    /// <summary>Both hosts' module configs, then the repository's state as the standby's host sees it.</summary>
    internal static BackRestRestoreFacts Gather(PgNode standby, IHostShell standbyShell, PgNode primary, IHostShell primaryShell)
    {
        var primaryConfig = Concurrently.Start(() =>
        {
            var path = PgBackRest.ConfigPath(HostFiles.HomeOf(primaryShell, primary.OsUser));
            return (Path: path, Text: HostFiles.ReadTextOrEmpty(primaryShell, path, primary.OsUser));
        });
        var home = HostFiles.HomeOf(standbyShell, standby.OsUser);
        var configPath = PgBackRest.ConfigPath(home);
        var text = HostFiles.ReadTextOrEmpty(standbyShell, configPath, standby.OsUser);
        CommandResult? info = null;
        if (PgBackRest.ParseHostConfig(text) is { Stanza: { } stanza })
            info = standbyShell.Run(new HostCommand("pgbackrest", "--config=" + configPath, "--stanza=" + stanza, "--output=json", "info")
            { RunAs = standby.OsUser, Timeout = Short });
        var (primaryPath, primaryText) = primaryConfig.Join();
        return new BackRestRestoreFacts
        {
            PrimaryConfigPath = primaryPath, PrimaryConfigText = primaryText, StandbyHome = home, StandbyConfigPath = configPath,
            StandbyConfigText = text, Info = info,
        };
    }

    /// <summary>
    /// The refusals and the restore, from the facts alone: the primary's cluster has a repository, the standby's host knows
    /// it (same repository host and stanza), and the repository holds a backup of this primary's cluster. Throws naming the
    /// host and the value.
    /// </summary>
    public static BackRestRestorePlan Decide(PgNode standby, PgNode primary, BackRestRestoreFacts facts, string dataDirectory, bool targetInUse, int? processMax)
    {
        if (PgBackRest.ParseHostConfig(facts.PrimaryConfigText) is not { Stanza: { } stanza } primaryConfig)
            throw new RefusedException(ErrorReasons.NoBackRestRepository,
                $"{primary.Name} has no pgBackRest repository: {facts.PrimaryConfigPath} on {primary.ComputerName} " +
                (facts.PrimaryConfigText.Length == 0 ? "is missing" : "names no repository host (repo1-host) and stanza") +
                $". Set one up with Initialize-PgBackRest -Primary {primary.Name} -RepositoryHost <host>, or use another -Method.", primary);
        var repository = primaryConfig.RepositoryHost;
        var setUp = $"Run Initialize-PgBackRest -Primary {primary.Name} -Standby {standby.Name} -RepositoryHost {repository} first: it writes that file " +
                    $"and sets up the SSH between {standby.Name} and {repository}.";
        var own = PgBackRest.ParseHostConfig(facts.StandbyConfigText);
        if (own?.RepositoryConfig is null)
            throw new RefusedException(ErrorReasons.BackRestStandbyNotSetUp,
                $"On {standby.Name}, {facts.StandbyConfigPath} is {(facts.StandbyConfigText.Length == 0 ? "missing" : "not one this module wrote (no repo1-host or repo1-host-config)")}: " +
                $"pgBackRest there does not know the repository on {repository}. {setUp}", standby);
        if (!string.Equals(own.RepositoryHost, repository, StringComparison.OrdinalIgnoreCase) || own.Stanza != stanza)
            throw new RefusedException(ErrorReasons.BackRestStandbyNotSetUp,
                $"On {standby.Name}, {facts.StandbyConfigPath} names the repository {own.RepositoryHost} (stanza '{own.Stanza}'), but {primary.Name} archives " +
                $"to {repository} (stanza '{stanza}'). {setUp}", standby);
        var info = facts.Info ?? throw new InvalidOperationException("The repository's state was not read.");
        if (!info.Succeeded)
            throw new HostCommandException(info.Host,
                $"On {standby.Name}, pgbackrest info could not read the repository on {repository} (stanza '{stanza}'). {setUp} {info.Describe()}");
        var backup = LatestBackup(info.StandardOutput, stanza);
        var systemId = primary.SystemIdentifier?.ToString(CultureInfo.InvariantCulture);
        if (backup is null)
            throw new RefusedException(ErrorReasons.NoBackRestBackup,
                $"The repository on {repository} has no backup of stanza '{stanza}' to build {standby.Name} from: take one first " +
                $"(Initialize-PgBackRest takes the first full backup; later ones with pgbackrest backup on {repository}), or use another -Method.", standby);
        if (backup.Value.SystemId != systemId)
            throw new RefusedException(ErrorReasons.NoBackRestBackup,
                $"The latest backup in the repository on {repository} (stanza '{stanza}', {backup.Value.Label}) is of the cluster with system identifier " +
                $"{backup.Value.SystemId ?? "unknown"}, not of {primary.Name}'s ({systemId}): a standby of {primary.Name} cannot be built from it. " +
                $"Take a backup of {primary.Name} first (pgbackrest backup on {repository}), or use another -Method.", standby);

        var processes = processMax ?? own.ProcessMax;
        var text = PgBackRest.DatabaseHostConfig(stanza, facts.StandbyHome, dataDirectory, standby.Port, own.RepositoryHost, own.RepositoryUser,
            own.RepositorySshPort, own.RepositoryConfig, own.ProcessMax);
        var restoreCommand = PgBackRest.ArchiveGetCommand(facts.StandbyConfigPath, stanza);
        return new BackRestRestorePlan(repository, stanza, backup.Value.Label, facts.StandbyConfigPath, text == facts.StandbyConfigText ? null : text,
            processes, targetInUse, restoreCommand, Arguments(facts.StandbyConfigPath, stanza, processes, targetInUse, restoreCommand));
    }

    /// <summary>
    /// pgbackrest restore as a standby: --delta when the target holds files (those that match the backup are kept),
    /// --process-max parallel processes, per-file progress on the console, and the restore_command Initialize-PgBackRest
    /// reports (without it pgBackRest would copy this command's console options into it).
    /// </summary>
    public static IReadOnlyList<string> Arguments(string config, string stanza, int processMax, bool delta, string restoreCommand)
    {
        var args = new List<string>
        {
            "--config=" + config, "--stanza=" + stanza, "--type=standby", "--process-max=" + processMax.ToString(CultureInfo.InvariantCulture),
            "--log-level-console=detail", "--recovery-option=restore_command=" + restoreCommand,
        };
        if (delta) args.Add("--delta");
        args.Add("restore");
        return args;
    }

    /// <summary>The label and the cluster's system identifier of the stanza's latest backup, from `pgbackrest info --output=json`; null when it has none.</summary>
    public static (string Label, string? SystemId)? LatestBackup(string json, string stanza)
    {
        using var doc = JsonDocument.Parse(json);
        foreach (var s in doc.RootElement.EnumerateArray())
        {
            if (s.GetProperty("name").GetString() != stanza) continue;
            if (!s.TryGetProperty("backup", out var backups) || backups.GetArrayLength() == 0) return null;
            var last = backups[backups.GetArrayLength() - 1];
            var dbId = last.TryGetProperty("database", out var database) && database.TryGetProperty("id", out var id) ? id.GetRawText() : null;
            string? systemId = null;
            if (s.TryGetProperty("db", out var dbs))
                foreach (var db in dbs.EnumerateArray())
                    if (db.TryGetProperty("id", out var i) && i.GetRawText() == dbId && db.TryGetProperty("system-id", out var sid)) systemId = sid.GetRawText().Trim('"');
            return (last.GetProperty("label").GetString()!, systemId);
        }
        return null;
    }

    /// <summary>What -WhatIf shows for the restore.</summary>
    public static IEnumerable<string> Steps(BackRestRestorePlan restore, PgNode standby, string dataDirectory)
    {
        if (restore.ConfigToWrite is not null)
            yield return $"write {restore.ConfigPath} on {standby.Name} (pg1-path {dataDirectory}, pg1-port {standby.Port})";
        yield return $"restore the latest backup ({restore.BackupLabel}) of stanza '{restore.Stanza}' from the repository on {restore.Repository} into " +
                     $"{standby.Name}:{dataDirectory} with pgbackrest restore --type=standby " +
                     (restore.Delta ? "--delta (files already there that match the backup are kept)" : "(into an empty directory)") +
                     $", {restore.ProcessMax} parallel process(es): the primary sends none of it; WAL since the backup comes from the archive (archive-get), then by streaming";
    }

    // pgbackrest --log-level-console=detail: "P01 DETAIL: restore file /d/base/1/1249 (440KB, 12.34%) checksum ..."
    private static readonly Regex ProgressLine = new(@"\((?<size>[0-9.]+[KMGTP]?B), (?<percent>\d{1,3}(?:\.\d+)?)%\)", RegexOptions.Compiled | RegexOptions.CultureInvariant);

    /// <summary>The percentage a restore's console line reports, or null.</summary>
    public static double? ProgressPercent(string line)
    {
        var m = ProgressLine.Match(line);
        return m.Success ? double.Parse(m.Groups["percent"].Value, CultureInfo.InvariantCulture) : null;
    }

    /// <summary>
    /// Restores into <paramref name="dataDirectory"/> (the server there stopped, the target checked by the plan). Without
    /// global/pg_control nothing starts, and a delta restore keeps the old one until its very end beside the backup's files:
    /// it goes first (durably), so an interrupted restore leaves a directory that cannot start, as a primary or at all, and
    /// a rerun resumes it. pgBackRest writes the standby marker, syncs every file, and puts pg_control in place last.
    /// </summary>
    internal static void Run(BaseBackupRequest request, BackRestRestorePlan restore, string dataDirectory, IHostShell shell, IOperationLog log)
    {
        var (standby, primary) = (request.Standby, request.Primary);
        var user = standby.OsUser;
        shell.Run(new HostCommand("mkdir", "-p", "-m", "0700", dataDirectory) { RunAs = user, Timeout = Short }).EnsureSuccess();
        if (restore.ConfigToWrite is { } text) PgBackRest.WriteConfig(standby, shell, restore.ConfigPath, text, log);
        RemoveControlFile(shell, dataDirectory, user);

        var activity = $"Restore of {standby.Name} from the pgBackRest repository on {restore.Repository}";
        var started = DateTime.UtcNow;
        var lastPercent = -1;
        var command = new HostCommand("pgbackrest", restore.Arguments.ToArray())
        {
            RunAs = user, Timeout = request.Timeout,
            OnOutputLine = line =>
            {
                if (ProgressPercent(line) is not { } percent || (int)percent == lastPercent) return;
                lastPercent = (int)percent;
                log.Progress(new OperationProgress(activity, $"{percent:0.0}% in {(DateTime.UtcNow - started).TotalSeconds:0} s", Math.Clamp(lastPercent, 0, 100)));
            },
        };
        log.Verbose($"{standby.Name}: pgbackrest restore of backup {restore.BackupLabel} from the repository on {restore.Repository} into {dataDirectory} " +
                    $"({(restore.Delta ? "delta" : "empty directory")}, {restore.ProcessMax} process(es)); {primary.Name} sends none of it.");
        log.Debug($"On {standby.Name}: {command.ToShellText(shell.CurrentUser)}");
        var result = shell.Run(command);
        log.Progress(new OperationProgress(activity, "done", 100, Completed: true));
        if (!result.Succeeded)
        {
            // pgBackRest may have put pg_control in place before failing on its last sync.
            try { RemoveControlFile(shell, dataDirectory, user); } catch (HostCommandException) { }
            throw new HostCommandException(shell.HostName,
                $"On {standby.Name}, pgbackrest restore from the repository on {restore.Repository} failed; {dataDirectory} has no global/pg_control, so nothing " +
                $"half-restored can start. Run again: the restore resumes with what is there (--delta). {result.Describe()}");
        }
        var major = primary.MajorVersion!.Value;
        var marker = StandbyConfigRules.UsesStandbySignal(major) ? VersionRules.StandbySignal : "recovery.conf";
        if (!HostFiles.Exists(shell, RemotePath.Join(dataDirectory, marker), user))
        {
            RemoveControlFile(shell, dataDirectory, user);
            throw new HostCommandException(shell.HostName,
                $"On {standby.Name}, pgbackrest restore --type=standby left no {marker} in {dataDirectory}: it would start as a primary, so its global/pg_control was removed.");
        }
        log.Verbose($"{standby.Name}: restored from the repository on {restore.Repository} in {(DateTime.UtcNow - started).TotalSeconds:0.0} s; " +
                    $"restore_command is {restore.RestoreCommand}.");
    }

    private static void RemoveControlFile(IHostShell shell, string dataDirectory, string user) =>
        // A stale postmaster.pid (the server is stopped: the plan checked) would make pgBackRest refuse to restore.
        shell.Run(new HostCommand("sh", "-c", "rm -f -- \"$1/global/pg_control\" \"$1/postmaster.pid\" && sync -f \"$1\"", "sh", dataDirectory)
        { RunAs = user, Timeout = Short }).EnsureSuccess();
}
