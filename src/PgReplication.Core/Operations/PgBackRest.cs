using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using PgReplication.Core.Config;
using PgReplication.Core.Hosts;
using PgReplication.Core.Model;
using PgReplication.Core.Sql;

namespace PgReplication.Core.Operations;

/// <summary>What Initialize-PgBackRest was asked for.</summary>
public sealed class BackRestRequest
{
    public required PgNode Primary { get; init; }
    /// <summary>Standbys that restore WAL from the repository (archive-get) and may be backed up from or restored to.</summary>
    public IReadOnlyList<PgNode> Standbys { get; init; } = Array.Empty<PgNode>();
    /// <summary>The host that keeps the repository: another host than the primary, reached over SSH; it needs no PostgreSQL.</summary>
    public required PgNode Repository { get; init; }
    public string Stanza { get; init; } = "main";
    public string RepositoryPath { get; init; } = "/var/lib/pgbackrest";
    public int ProcessMax { get; init; } = 2;
    /// <summary>Restart the primary when archive_mode has to be turned on.</summary>
    public bool Restart { get; init; }
    public TimeSpan Timeout { get; init; } = TimeSpan.FromMinutes(30);
}

/// <summary>What a database host's module-written pgbackrest.conf says (<see cref="PgBackRest.ParseHostConfig"/>).</summary>
public sealed record BackRestHostConfig(string? Stanza, string RepositoryHost, string RepositoryUser, string? RepositoryConfig, int RepositorySshPort,
    int ProcessMax, string? PgPath, int? PgPort);

/// <summary>What Initialize-PgBackRest will change; also what it returns.</summary>
public sealed class BackRestPlan
{
    public required string Stanza { get; init; }
    public required string Version { get; init; }
    /// <summary>Each host's pgbackrest.conf: path and content.</summary>
    public required IReadOnlyDictionary<PgNode, (string Path, string Text)> Configs { get; init; }
    public required string ArchiveCommand { get; init; }
    /// <summary>restore_command for each standby (its own config path).</summary>
    public required IReadOnlyDictionary<PgNode, string> RestoreCommands { get; init; }
    public required PrimaryConfigPlan Archive { get; init; }
    public List<string> Steps { get; } = new();
}

/// <summary>
/// pgBackRest (Debian's package) with its repository on another host than the primary: the database hosts push WAL to it
/// (archive_command archive-push) and read WAL from it (restore_command archive-get), the repository host takes the
/// backups over SSH. The module writes its own pgbackrest.conf under each host's postgres home (not /etc: it needs no root,
/// and a lab of hosts sharing /etc and /tmp keeps each host's apart) and names it in every command.
/// </summary>
public static class PgBackRest
{
    private static readonly TimeSpan Short = TimeSpan.FromSeconds(60);
    private static readonly Regex StanzaName = new("^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$", RegexOptions.CultureInvariant);

    /// <summary>The module's pgBackRest folder under a user's home: config, log, lock and spool.</summary>
    public static string Folder(string home) => RemotePath.Join(home, ".pgbackrest");
    public static string ConfigPath(string home) => RemotePath.Join(Folder(home), "pgbackrest.conf");

    /// <summary>A database host's pgbackrest.conf: where the repository is, and this host's own cluster as pg1.</summary>
    public static string DatabaseHostConfig(string stanza, string home, PgNode node, string repositoryHost, string repositoryUser,
        int repositorySshPort, string repositoryConfig, int processMax) =>
        DatabaseHostConfig(stanza, home, node.DataDirectory!, node.Port, repositoryHost, repositoryUser, repositorySshPort, repositoryConfig, processMax);

    public static string DatabaseHostConfig(string stanza, string home, string dataDirectory, int port, string repositoryHost, string repositoryUser,
        int repositorySshPort, string repositoryConfig, int processMax)
    {
        var lines = new List<string> { "[global]", $"repo1-host={repositoryHost}", $"repo1-host-user={repositoryUser}", $"repo1-host-config={repositoryConfig}" };
        if (repositorySshPort != 22) lines.Add($"repo1-host-port={repositorySshPort.ToString(CultureInfo.InvariantCulture)}");
        lines.AddRange(Common(home, processMax));
        lines.AddRange(new[] { "", $"[{stanza}]", $"pg1-path={dataDirectory}", $"pg1-port={port.ToString(CultureInfo.InvariantCulture)}", "" });
        return string.Join('\n', lines);
    }

    /// <summary>
    /// The repository host's pgbackrest.conf: the repository, and every database host as pg1, pg2, ... (the primary first):
    /// pgBackRest finds which one is the primary at each backup, so a failover needs no change here.
    /// </summary>
    public static string RepositoryConfig(string stanza, string home, string repositoryPath, IReadOnlyList<(PgNode Node, string Config)> databases, int processMax)
    {
        var lines = new List<string> { "[global]", $"repo1-path={repositoryPath}", "repo1-retention-full=2", "start-fast=y" };
        lines.AddRange(Common(home, processMax));
        lines.Add("");
        lines.Add($"[{stanza}]");
        var i = 0;
        foreach (var (node, config) in databases)
        {
            var n = (++i).ToString(CultureInfo.InvariantCulture);
            lines.Add($"pg{n}-host={node.ComputerName}");
            lines.Add($"pg{n}-host-user={node.OsUser}");
            lines.Add($"pg{n}-host-config={config}");
            if (node.Ssh?.Port is { } port && port != 22) lines.Add($"pg{n}-host-port={port.ToString(CultureInfo.InvariantCulture)}");
            lines.Add($"pg{n}-path={node.DataDirectory}");
            lines.Add($"pg{n}-port={node.Port.ToString(CultureInfo.InvariantCulture)}");
        }
        lines.Add("");
        return string.Join('\n', lines);
    }

    private static IEnumerable<string> Common(string home, int processMax) => new[]
    {
        $"process-max={processMax.ToString(CultureInfo.InvariantCulture)}",
        $"log-path={RemotePath.Join(Folder(home), "log")}", $"lock-path={RemotePath.Join(Folder(home), "lock")}",
        $"spool-path={RemotePath.Join(Folder(home), "spool")}", "log-level-console=warn", "log-level-file=info",
    };

    /// <summary>archive_command: % in the path doubled, as archive_command wants a literal one.</summary>
    public static string ArchivePushCommand(string config, string stanza) =>
        $"pgbackrest --config={ShellQuote.Quote(config).Replace("%", "%%")} --stanza={stanza} archive-push %p";

    public static string ArchiveGetCommand(string config, string stanza) =>
        $"pgbackrest --config={ShellQuote.Quote(config).Replace("%", "%%")} --stanza={stanza} archive-get %f \"%p\"";

    public static void ValidateRequest(BackRestRequest request)
    {
        if (!StanzaName.IsMatch(request.Stanza))
            throw new ArgumentException($"The stanza name '{ConfigValues.Printable(request.Stanza)}' is not a name pgBackRest takes (letters, digits, '_', '.', '-').");
        if (!request.RepositoryPath.StartsWith('/') || request.RepositoryPath.Split('/').Contains(".."))
            throw new ArgumentException($"The repository path '{ConfigValues.Printable(request.RepositoryPath)}' on {request.Repository.Name} is not an absolute path without '..'.");
        ConfigValues.EnsureSafe(request.RepositoryPath, "repository path");
        if (request.ProcessMax is < 1 or > 64) throw new ArgumentException($"-ProcessMax {request.ProcessMax} is not between 1 and 64.");
        if (SameHost(request.Repository, request.Primary))
            throw new ArgumentException($"The repository host {request.Repository.Name} is the primary's host ({request.Primary.ComputerName}): WAL kept there is lost with the primary. Give another host.");
    }

    private static bool SameHost(PgNode a, PgNode b) => string.Equals(a.ComputerName, b.ComputerName, StringComparison.OrdinalIgnoreCase);

    /// <summary>Read-only: pgBackRest on every host (one version), the nodes discovered, the configs and the archive settings planned.</summary>
    public static BackRestPlan Prepare(BackRestRequest request, IReadOnlyDictionary<PgNode, IHostShell> shells, IOperationLog log)
    {
        ValidateRequest(request);
        var databases = new[] { request.Primary }.Concat(request.Standbys).ToList();
        foreach (var node in databases)
        {
            try { NodeDiscovery.Discover(node, log); }
            catch (PgConnectionException) when (node != request.Primary)
            {
                // A host with no server yet, to be built from the repository (Invoke-PgBaseBackup -Method PgBackRest, which
                // writes the path it restores to): its config names the primary's path meanwhile, the layout hosts mostly share.
                node.DataDirectory ??= request.Primary.DataDirectory;
                log.Verbose($"{node.Name}: no server answers; its pgbackrest.conf names {node.DataDirectory} until a restore there names its own.");
            }
            if (node.DataDirectory is null) throw new InvalidOperationException($"The data directory of {node.Name} is not known.");
            ConfigValues.EnsureSafe(node.DataDirectory, "data directory");
        }
        var versions = Concurrently.Map(shells, kv => (Node: kv.Key, Version: VersionOf(kv.Key, kv.Value)));
        var distinct = versions.Select(v => v.Version).Distinct().ToList();
        if (distinct.Count > 1)
            throw new InvalidOperationException($"pgBackRest differs between the hosts ({string.Join(", ", versions.Select(v => $"{v.Node.Name} {v.Version}"))}): install one version everywhere.");

        var homes = shells.ToDictionary(kv => kv.Key, kv => HostFiles.HomeOf(kv.Value, kv.Key.OsUser));
        var repository = request.Repository;
        var repositoryConfig = ConfigPath(homes[repository]);
        var configs = new Dictionary<PgNode, (string, string)>();
        foreach (var node in databases)
            configs[node] = (ConfigPath(homes[node]), DatabaseHostConfig(request.Stanza, homes[node], node, repository.ComputerName, repository.OsUser,
                repository.Ssh?.Port ?? 22, repositoryConfig, request.ProcessMax));
        configs[repository] = (repositoryConfig, RepositoryConfig(request.Stanza, homes[repository], request.RepositoryPath,
            databases.Select(d => (d, ConfigPath(homes[d]))).ToList(), request.ProcessMax));

        var archiveCommand = ArchivePushCommand(ConfigPath(homes[request.Primary]), request.Stanza);
        var archive = PrimaryConfig.Plan(request.Primary, new PrimaryConfigOptions { WalArchive = archiveCommand }, log);
        var archiveChanges = archive.Changes.Where(c => c.Kind == PrimaryChangeKind.Setting && c.Target.StartsWith("archive_", StringComparison.Ordinal)).ToList();
        if (archiveChanges.Any(c => c.NeedsRestart) && !request.Restart)
            throw new InvalidOperationException($"On {request.Primary.Name}, archive_mode is off and takes a restart to turn on: give -Restart.");

        var plan = new BackRestPlan
        {
            Stanza = request.Stanza, Version = distinct.Single(), Configs = configs, ArchiveCommand = archiveCommand, Archive = archive,
            RestoreCommands = request.Standbys.ToDictionary(s => s, s => ArchiveGetCommand(ConfigPath(homes[s]), request.Stanza)),
        };
        foreach (var node in databases.Where(d => d != repository))
            plan.Steps.Add($"SSH trust between {node.Name}'s {node.OsUser} and {repository.Name}'s {repository.OsUser}, both ways (host keys as this module verified them)");
        foreach (var (node, (path, _)) in configs) plan.Steps.Add($"write {path} on {node.Name}");
        plan.Steps.Add($"make {request.RepositoryPath} on {repository.Name} and create the stanza '{request.Stanza}' there");
        foreach (var c in archiveChanges) plan.Steps.Add($"{c.Description} on {request.Primary.Name}");
        if (archiveChanges.Any(c => c.NeedsRestart)) plan.Steps.Add($"restart {request.Primary.Name}");
        plan.Steps.Add($"pgbackrest check (a WAL file archived and found in the repository), then a full backup if the repository has none");
        return plan;
    }

    public static BackRestInfo Apply(BackRestRequest request, BackRestPlan plan, IReadOnlyDictionary<PgNode, IHostShell> shells, IOperationLog log)
    {
        var repository = request.Repository;
        var repositoryShell = shells[repository];
        var fingerprints = shells.ToDictionary(kv => kv.Key, kv => kv.Value.HostKeyFingerprint);
        foreach (var node in plan.Configs.Keys.Where(n => n != repository))
        {
            // The repository host runs the backups on the database hosts; they push and get WAL on it.
            SshTrust.Ensure(repository, repositoryShell, node, shells[node], Fingerprint(fingerprints, node), log);
            SshTrust.Ensure(node, shells[node], repository, repositoryShell, Fingerprint(fingerprints, repository), log);
        }
        foreach (var (node, (path, text)) in plan.Configs) WriteConfig(node, shells[node], path, text, log);
        repositoryShell.Run(new HostCommand("mkdir", "-p", "-m", "0750", request.RepositoryPath) { RunAs = repository.OsUser, Timeout = Short }).EnsureSuccess();
        var repositoryConfig = plan.Configs[repository].Path;
        Run(repository, repositoryShell, repositoryConfig, request.Stanza, request.Timeout, log, "stanza-create");

        var archiveChanges = plan.Archive.Changes.Where(c => c.Kind == PrimaryChangeKind.Setting && c.Target.StartsWith("archive_", StringComparison.Ordinal)).ToList();
        if (archiveChanges.Count > 0)
            PrimaryConfig.Apply(plan.Archive, archiveChanges, request.Restart, request.Timeout, log);

        Run(repository, repositoryShell, repositoryConfig, request.Stanza, request.Timeout, log, "check");
        var info = Info(request, plan, repositoryShell, log);
        if (info.Backups == 0)
        {
            Run(repository, repositoryShell, repositoryConfig, request.Stanza, request.Timeout, log, "backup", "--type=full");
            info = Info(request, plan, repositoryShell, log);
        }
        return info;
    }

    /// <summary>The one writer of the module's pgbackrest.conf (0600, with its log, lock and spool folders); unchanged text is not rewritten.</summary>
    public static void WriteConfig(PgNode node, IHostShell shell, string path, string text, IOperationLog log)
    {
        foreach (var dir in new[] { "", "log", "lock", "spool" })
            shell.Run(new HostCommand("mkdir", "-p", "-m", "0700", RemotePath.Join(RemotePath.Parent(path)!, dir)) { RunAs = node.OsUser, Timeout = Short }).EnsureSuccess();
        if (HostFiles.ReadTextOrEmpty(shell, path, node.OsUser) == text) return;
        HostFiles.Write(shell, path, Encoding.UTF8.GetBytes(text), "0600", node.OsUser);
        log.Verbose($"{node.Name}: wrote {path}.");
    }

    /// <summary>
    /// What a database host's pgbackrest.conf written by <see cref="DatabaseHostConfig"/> says: the repository and the stanza
    /// with this host's cluster (null when the file is empty or names no repository host).
    /// </summary>
    public static BackRestHostConfig? ParseHostConfig(string text)
    {
        var sections = new Dictionary<string, Dictionary<string, string>>(StringComparer.Ordinal);
        Dictionary<string, string>? current = null;
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line[0] is '#' or ';') continue;
            if (line[0] == '[' && line[^1] == ']') { sections[line[1..^1]] = current = new(StringComparer.Ordinal); continue; }
            var eq = line.IndexOf('=');
            if (current is null || eq < 1) continue;
            current[line[..eq].Trim()] = line[(eq + 1)..].Trim();
        }
        if (!sections.TryGetValue("global", out var global) || global.GetValueOrDefault("repo1-host") is not { Length: > 0 } host) return null;
        // The module writes one stanza per file: the first section that is not [global] (nor a command section such as [global:archive-push]).
        var (stanza, pg) = sections.Where(s => s.Key != "global" && !s.Key.Contains(':')).Select(s => (s.Key, s.Value)).FirstOrDefault();
        static int? Int(Dictionary<string, string>? d, string key) =>
            d?.GetValueOrDefault(key) is { } v && int.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : null;
        return new BackRestHostConfig(stanza, host, global.GetValueOrDefault("repo1-host-user") ?? "postgres", global.GetValueOrDefault("repo1-host-config"),
            Int(global, "repo1-host-port") ?? 22, Int(global, "process-max") ?? 1, pg?.GetValueOrDefault("pg1-path"), Int(pg, "pg1-port"));
    }

    /// <summary>The name of Test-PgReplication's check of a pgBackRest archive.</summary>
    public const string ArchiveCheckName = "WAL archive (pgBackRest)";

    private static readonly Regex ArchivePushOption = new(@"--(?<name>config|stanza)=(?<value>'[^']*'|\S+)", RegexOptions.CultureInvariant);

    /// <summary>The --config (null: pgBackRest's default) and --stanza of an archive_command that runs pgbackrest archive-push; null for any other.</summary>
    public static (string? Config, string Stanza)? ArchivePushTarget(string? archiveCommand)
    {
        if (archiveCommand is null || !Regex.IsMatch(archiveCommand, @"(^|[\s/])pgbackrest\s.*\barchive-push\b", RegexOptions.CultureInvariant)) return null;
        var options = ArchivePushOption.Matches(archiveCommand).ToDictionary(m => m.Groups["name"].Value, m => m.Groups["value"].Value.Trim('\'').Replace("%%", "%"));
        return options.TryGetValue("stanza", out var stanza) ? (options.GetValueOrDefault("config"), stanza) : null;
    }

    /// <summary>
    /// The archive's state as a health check (pure): the stanza ok, a backup to build or restore from, and the repository
    /// holding the last WAL file the primary says it archived (pg_stat_archiver.last_archived_wal).
    /// </summary>
    public static HealthCheck ArchiveHealth(BackRestInfo info, string? primaryLastArchived)
    {
        var where = $"stanza '{info.Stanza}' on {info.Repository}";
        if (info.Status != "ok") return new HealthCheck(ArchiveCheckName, false, $"{where}: {info.Status}");
        if (info.Backups == 0) return new HealthCheck(ArchiveCheckName, false, $"{where}: no backup to build a standby or restore from");
        var behind = primaryLastArchived is not null && string.CompareOrdinal(info.ArchiveMax, primaryLastArchived[..Math.Min(24, primaryLastArchived.Length)]) < 0;
        var text = $"{where}: WAL archived up to {info.ArchiveMax ?? "none"} (the primary's last: {primaryLastArchived ?? "none"}), " +
                   $"last backup {info.LastBackup} of {info.Backups}";
        return new HealthCheck(ArchiveCheckName, !behind, behind ? text + ": the repository lacks WAL the primary archived" : text);
    }

    /// <summary>Test-PgReplication's archive check: `pgbackrest info` on the primary's host with its archive_command's config and stanza.</summary>
    public static HealthCheck ArchiveCheck(PgNode primary, string archiveCommand, string? primaryLastArchived, IOperationLog log)
    {
        var (config, stanza) = ArchivePushTarget(archiveCommand) ?? throw new ArgumentException("Not a pgbackrest archive-push command.", nameof(archiveCommand));
        try
        {
            using var shell = HostShells.Open(primary, log);
            var args = new List<string>();
            if (config is not null) args.Add("--config=" + config);
            args.AddRange(new[] { "--stanza=" + stanza, "--output=json", "info" });
            var r = shell.Run(new HostCommand("pgbackrest", args.ToArray()) { RunAs = primary.OsUser, Timeout = Short });
            if (!r.Succeeded) return new HealthCheck(ArchiveCheckName, false, $"pgbackrest info of stanza '{stanza}' failed on {primary.Name}: {r.Describe()}");
            var repository = config is null ? null : ParseHostConfig(HostFiles.ReadTextOrEmpty(shell, config, primary.OsUser))?.RepositoryHost;
            return ArchiveHealth(ParseInfo(r.StandardOutput, stanza, repository ?? "its repository"), primaryLastArchived);
        }
        catch (Exception ex) when (ex is HostCommandException or SshHostKeyException or ArgumentException or System.Text.Json.JsonException)
        {
            return new HealthCheck(ArchiveCheckName, false, $"the repository's state could not be read on {primary.Name}: {ex.Message}");
        }
    }

    private static string Fingerprint(IReadOnlyDictionary<PgNode, string?> fingerprints, PgNode node) =>
        fingerprints[node] ?? throw new NotSupportedException($"pgBackRest between hosts needs SSH access to {node.Name}.");

    private static string VersionOf(PgNode node, IHostShell shell)
    {
        var r = shell.Run(new HostCommand("pgbackrest", "version") { RunAs = node.OsUser, Timeout = Short });
        if (!r.Succeeded)
            throw new HostCommandException(shell.HostName, $"On {node.Name}, pgBackRest is not installed or does not run (Debian: apt-get install pgbackrest). {r.Describe()}");
        return r.StandardOutput.Trim();
    }

    /// <summary>Runs a pgbackrest command with the module's config, as the host's user.</summary>
    public static CommandResult Run(PgNode node, IHostShell shell, string config, string stanza, TimeSpan timeout, IOperationLog log, string command, params string[] options)
    {
        var args = new List<string> { "--config=" + config, "--stanza=" + stanza };
        args.AddRange(options);
        args.Add(command);
        var hostCommand = new HostCommand("pgbackrest", args.ToArray()) { RunAs = node.OsUser, Timeout = timeout };
        log.Verbose($"{node.Name}: pgbackrest {command}.");
        log.Debug($"On {shell.HostName}: {hostCommand.ToShellText(shell.CurrentUser)}");
        var r = shell.Run(hostCommand);
        if (!r.Succeeded) throw new HostCommandException(shell.HostName, $"On {node.Name}, pgbackrest {command} of stanza '{stanza}' failed. {r.Describe()}");
        return r;
    }

    private static BackRestInfo Info(BackRestRequest request, BackRestPlan plan, IHostShell shell, IOperationLog log)
    {
        var r = Run(request.Repository, shell, plan.Configs[request.Repository].Path, request.Stanza, Short, log, "info", "--output=json");
        var info = ParseInfo(r.StandardOutput, request.Stanza, request.Repository.Name);
        return new BackRestInfo
        {
            Stanza = info.Stanza, Repository = info.Repository, Status = info.Status, Backups = info.Backups, LastBackup = info.LastBackup,
            ArchiveMin = info.ArchiveMin, ArchiveMax = info.ArchiveMax, ArchiveCommand = plan.ArchiveCommand,
            RestoreCommands = plan.RestoreCommands.ToDictionary(kv => kv.Key.Name, kv => kv.Value),
        };
    }

    /// <summary>`pgbackrest info --output=json` of one stanza: its status, its backups, the WAL range its archive holds.</summary>
    public static BackRestInfo ParseInfo(string json, string stanza, string repository)
    {
        using var doc = System.Text.Json.JsonDocument.Parse(json);
        foreach (var s in doc.RootElement.EnumerateArray())
        {
            if (s.GetProperty("name").GetString() != stanza) continue;
            var status = s.GetProperty("status").GetProperty("message").GetString() ?? "";
            var backups = s.TryGetProperty("backup", out var b) ? b.EnumerateArray().ToList() : new();
            string? min = null, max = null;
            if (s.TryGetProperty("archive", out var archives))
                foreach (var a in archives.EnumerateArray())
                {
                    if (a.TryGetProperty("min", out var mn) && mn.ValueKind == System.Text.Json.JsonValueKind.String) min ??= mn.GetString();
                    if (a.TryGetProperty("max", out var mx) && mx.ValueKind == System.Text.Json.JsonValueKind.String) max = mx.GetString();
                }
            return new BackRestInfo
            {
                Stanza = stanza, Repository = repository, Status = status, Backups = backups.Count,
                LastBackup = backups.Count == 0 ? null : backups[^1].GetProperty("label").GetString(), ArchiveMin = min, ArchiveMax = max,
            };
        }
        return new BackRestInfo { Stanza = stanza, Repository = repository, Status = "missing stanza path" };
    }
}
