using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using PgReplication.Core.Hosts;
using PgReplication.Core.Model;
using PgReplication.Core.Sql;
using PgReplication.Core.Versions;

namespace PgReplication.Core.Operations;

/// <summary>One line of rsync --info=progress2: bytes so far (of the whole run), percent, files sent, files left to check of those known.</summary>
public sealed record RsyncProgress(long Bytes, int Percent, int? FilesSent, int? FilesLeft, int? FilesTotal);

/// <summary>
/// Invoke-PgBaseBackup -Method Rsync: the low-level backup API (non-exclusive, in one session) around an
/// rsync of the primary's data directory to the standby, run on the primary host. Useful to re-sync a large
/// standby that is only a little behind: rsync sends only what changed.
/// </summary>
public static class RsyncCopy
{
    /// <summary>
    /// What must not be copied (PostgreSQL docs, "Backing Up the Data Directory"): the receiver's copies are
    /// deleted too (--delete-excluded), so no stale WAL, slot or pid file survives a re-sync.
    /// </summary>
    public static readonly IReadOnlyList<string> Excluded = new[]
    {
        "/postmaster.pid", "/postmaster.opts", "/backup_label", "/backup_label.old", "/tablespace_map",
        "/standby.signal", "/recovery.signal", "/recovery.conf", "/recovery.done", "/current_logfiles",
        "/postgresql.auto.conf.tmp", "/backup_manifest",
        "/pg_wal/*", "/pg_replslot/*", "/pg_dynshmem/*", "/pg_notify/*", "/pg_serial/*", "/pg_snapshots/*",
        "/pg_stat_tmp/*", "/pg_subtrans/*", "pgsql_tmp*", "pg_internal.init",
    };

    /// <summary>backup_label and tablespace_map as the backup's stop returned them (columns labelfile and spcmapfile).</summary>
    internal static void WriteBackupFiles(IHostShell shell, PgNode standby, string target, SqlRow stop)
    {
        HostFiles.Write(shell, RemotePath.Join(target, "backup_label"), Encoding.UTF8.GetBytes(stop.Text("labelfile") ?? ""), "0600", standby.OsUser);
        if (stop.Text("spcmapfile") is { Length: > 0 } map)
            HostFiles.Write(shell, RemotePath.Join(target, "tablespace_map"), Encoding.UTF8.GetBytes(map), "0600", standby.OsUser);
    }

    public static void Run(BaseBackupRequest request, BaseBackupPlan plan, IHostShell standbyShell, IHostShell primaryShell, IOperationLog log)
    {
        var (standby, primary) = (request.Standby, request.Primary);
        var major = primary.MajorVersion!.Value;
        var source = primary.DataDirectory ?? throw new InvalidOperationException($"The data directory of {primary.Name} is not known.");
        var target = plan.DataDirectory;
        var sameHost = SshTrust.EnsureForCopy(primary, primaryShell, standby, standbyShell, "Rsync", log);
        standbyShell.Run(new HostCommand("mkdir", "-p", "-m", "0700", target) { RunAs = standby.OsUser, Timeout = TimeSpan.FromSeconds(30) }).EnsureSuccess();

        var label = $"pgreplication {standby.Name} {DateTime.UtcNow:yyyy-MM-ddTHH:mm:ssZ}";
        using var session = PgSession.Open(primary, log: log, commandTimeout: TimeSpan.FromHours(2));
        var backup = VersionRules.BackupFunctions(major);
        var startLsn = session.Scalar<string>($"SELECT {backup.Start}::text", ("label", label));
        log.Verbose($"{primary.Name}: backup started at {startLsn}.");
        var copied = false;
        var activity = $"Base backup of {primary.Name} to {standby.Name}";
        var started = DateTime.UtcNow;
        try
        {
            // --checksum: rsync's quick check (same size and mtime) would skip a file the standby wrote in the
            // same second as the primary with other content (pg_xact without a commit the backup no longer
            // replays): rows silently missing. Checksums compare content; only what differs is sent.
            void Rsync(string what, string from, string to, IEnumerable<string> excluded)
            {
                // --info=progress2: one line per update for the whole run (plain numbers with --no-human-readable); the
                // file list is built first (--no-inc-recursive), so its percent is of everything to look at.
                var args = new List<string> { "-a", "--checksum", "--delete", "--delete-excluded", "--stats", "--info=progress2", "--no-human-readable", "--no-inc-recursive" };
                args.AddRange(excluded.Select(e => "--exclude=" + e));
                args.Add(from.TrimEnd('/') + "/");
                if (sameHost) args.Add(to.TrimEnd('/') + "/");
                else
                {
                    args.InsertRange(0, new[] { "-e", "ssh " + string.Join(' ', SshTrust.ClientArguments(standby)) });
                    args.Add($"{SshTrust.Destination(standby)}:{to.TrimEnd('/')}/");
                }
                var reporter = new ProgressReporter(activity, what, log);
                var command = new HostCommand("rsync", args.ToArray()) { RunAs = primary.OsUser, Timeout = request.Timeout, OnOutputLine = reporter.Line };
                log.Debug($"On {primary.Name}: {command.ToShellText(primaryShell.CurrentUser)}");
                var result = primaryShell.Run(command);
                // rsync exit 24: files vanished while copying, normal on a live data directory.
                if (!result.Succeeded && result.ExitCode != 24) throw new HostCommandException(result);
            }
            Rsync("data directory", source, target, Excluded);
            // pg_tblspc holds symlinks: each tablespace's own directory goes to the same path on the standby, as pg_basebackup puts it.
            foreach (var tablespace in plan.Tablespaces)
            {
                standbyShell.Run(new HostCommand("mkdir", "-p", "-m", "0700", "--", tablespace.Location) { RunAs = standby.OsUser, Timeout = TimeSpan.FromSeconds(30) }).EnsureSuccess();
                Rsync($"tablespace {tablespace.Name}", tablespace.Location, tablespace.Location, Excluded.Where(e => !e.StartsWith('/')));
                log.Verbose($"{standby.Name}: tablespace {tablespace.Name} synced to {tablespace.Location}.");
            }
            copied = true;
            log.Verbose($"{standby.Name}: rsync done in {(DateTime.UtcNow - started).TotalSeconds:0.0} s.");
        }
        finally
        {
            log.Progress(new OperationProgress(activity, "done", 100, Completed: true));
            var stop = session.Query($"SELECT lsn::text AS lsn, labelfile, spcmapfile FROM {backup.Stop}").Single();
            if (copied)
            {
                WriteBackupFiles(standbyShell, standby, target, stop);
                log.Verbose($"{primary.Name}: backup stopped at {stop.Text("lsn")}; backup_label written on {standby.Name}.");
            }
            else
            {
                // Without pg_control the server refuses to start, so a half-synced directory can never run,
                // while the bulk stays for a rerun to complete cheaply.
                standbyShell.Run(new HostCommand("rm", "-f", "--", RemotePath.Join(target, "global", "pg_control")) { RunAs = standby.OsUser, Timeout = TimeSpan.FromSeconds(30) });
                log.Warning($"{standby.Name}: the rsync did not complete; removed global/pg_control in {target} so it cannot start. Run again to finish.");
            }
        }
    }

    // "     30,000,005  99%  583.24MB/s    0:00:00 (xfr#3, to-chk=18/22)": the counts part comes once a file was sent.
    private static readonly Regex ProgressLine = new(
        @"^\s*(?<bytes>\d[\d,.']*)\s+(?<percent>\d{1,3})%\s+\S+\s+\d+:\d{2}:\d{2}(?:\s+\(xfr#(?<sent>\d+),\s*(?:to|ir)-chk=(?<left>\d+)/(?<total>\d+)\))?\s*$",
        RegexOptions.Compiled);

    /// <summary>A progress2 line of rsync's output (pure); null for any other line (--stats, file names, errors).</summary>
    public static RsyncProgress? ParseProgress(string line)
    {
        var m = ProgressLine.Match(line);
        if (!m.Success) return null;
        // Digits only: a thousands separator of the locale stays out, should --no-human-readable not be honoured.
        if (!long.TryParse(new string(m.Groups["bytes"].Value.Where(char.IsAsciiDigit).ToArray()), NumberStyles.None, CultureInfo.InvariantCulture, out var bytes)) return null;
        int? Count(string group) => m.Groups[group].Success ? int.Parse(m.Groups[group].Value, CultureInfo.InvariantCulture) : null;
        return new RsyncProgress(bytes, Math.Clamp(int.Parse(m.Groups["percent"].Value, CultureInfo.InvariantCulture), 0, 100), Count("sent"), Count("left"), Count("total"));
    }

    /// <summary>The Write-Progress status for a progress line (pure): MiB so far, files sent and looked at, and the mean rate since the copy began.</summary>
    public static string ProgressStatus(string what, RsyncProgress p, double seconds)
    {
        var files = p.FilesTotal is { } total ? $", {p.FilesSent} files sent, {total - p.FilesLeft} of {total} looked at" : "";
        return string.Create(CultureInfo.InvariantCulture, $"{what}: {p.Bytes / 1048576.0:0.0} MiB{files}, {p.Bytes / 1048576.0 / Math.Max(0.001, seconds):0.0} MiB/s");
    }

    /// <summary>Turns rsync's output lines into progress records, at most four a second (rsync writes one per file).</summary>
    private sealed class ProgressReporter(string activity, string what, IOperationLog log)
    {
        private readonly DateTime _started = DateTime.UtcNow;
        private DateTime _last = DateTime.MinValue;

        public void Line(string line)
        {
            if (ParseProgress(line) is not { } p) return;
            var now = DateTime.UtcNow;
            if (now - _last < TimeSpan.FromMilliseconds(250) && p.Percent < 100) return;
            _last = now;
            log.Progress(new OperationProgress(activity, ProgressStatus(what, p, (now - _started).TotalSeconds), p.Percent));
        }
    }
}
