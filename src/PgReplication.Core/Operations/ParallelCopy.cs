using System.Globalization;
using System.Text;
using PgReplication.Core.Hosts;
using PgReplication.Core.Model;
using PgReplication.Core.Sql;
using PgReplication.Core.Versions;

namespace PgReplication.Core.Operations;

/// <summary>One entry of a directory listing: its root (0 the data directory, 1.. the tablespaces), the path below it, and what find said.</summary>
public sealed record CopyEntry(int Root, string Path, char Type, long Size, double ModifiedAt)
{
    /// <summary>Whole seconds: tar keeps an mtime to the second, so that is what a copy's file can be compared by.</summary>
    public long ModifiedSecond => (long)Math.Floor(ModifiedAt);
}

/// <summary>What a parallel copy sends, in which stream, and what it keeps from an interrupted earlier run.</summary>
public sealed class ParallelCopyDecision
{
    /// <summary>Per stream, the entries it sends (directories and symlinks all in stream 0, first).</summary>
    public required IReadOnlyList<IReadOnlyList<CopyEntry>> Streams { get; init; }
    /// <summary>Entries on the target that are not part of the copy: removed before anything is sent.</summary>
    public required IReadOnlyList<CopyEntry> Remove { get; init; }
    /// <summary>Files the interrupted run was writing when it was cut: only their rest is sent, from the offset the standby has.</summary>
    public IReadOnlyList<(CopyEntry File, long Offset)> Append { get; init; } = Array.Empty<(CopyEntry, long)>();
    public int KeptFiles { get; init; }
    public long KeptBytes { get; init; }
    public int SentFiles { get; init; }
    public long SentBytes { get; init; }
}

/// <summary>
/// Invoke-PgBaseBackup -Method Parallel: the low-level backup API held in one session on the primary, the data
/// directory and every tablespace sent host to host in N tar streams over SSH (the primary's postgres trusts the
/// standby's with a pinned host key, SshTrust), split by size; no fsync per file, one syncfs per file system at the
/// end; global/pg_control sent aside and put in place last, after backup_label, the standby marker and the syncfs, so
/// nothing half-copied can start. An interrupted copy keeps what it wrote and a state file; the next run sends only
/// what is missing or changed (docs/design.md, "A copy that resumes").
/// </summary>
public static class ParallelCopy
{
    /// <summary>The file in the target that says which primary an unfinished copy is of, on which boot, and since when its files are trusted.</summary>
    public const string StateFile = "pgreplication_copy.state";
    private const string PendingControl = "global/pg_control.pgreplication";
    private static readonly TimeSpan Short = TimeSpan.FromSeconds(30);

    // Prints "now <epoch>" then, per root given, "root <i>" and one record per entry below it (NUL-separated).
    private const string ListScript =
        "printf 'now %s\\0' \"$(date +%s.%N)\"; i=0; for r; do printf 'root %s\\0' $i; " +
        "[ -d \"$r\" ] && find \"$r/\" -mindepth 1 -printf '%y %s %T@ %P\\0' 2>/dev/null; i=$((i+1)); done; true";

    // $1 the root, $2 'ssh' or 'local', $3.. ssh's arguments then the receiving command (one shell word list). The file
    // list comes on stdin. tar's own exit (1: a file changed while read, normal on a live cluster) is reported on stderr
    // since the pipeline's status is the receiver's.
    private const string SendScript =
        "r=$1; how=$2; shift 2; cd \"$r\" || exit 3; " +
        "{ tar -cf - --null --no-recursion --ignore-failed-read -vv --transform='s,^global/pg_control$," + PendingControl + ",' -T -; echo \"pgreplication-tar-exit=$?\" >&2; } | " +
        "if [ \"$how\" = local ]; then sh -c \"$1\"; else ssh \"$@\"; fi";

    /// <summary>
    /// What to send (pure): every entry of <paramref name="source"/> the copy includes, less the files interrupted earlier
    /// runs already wrote and that have not changed since: same size, same second, and last modified before the first of
    /// those runs began (<paramref name="trustedBefore"/>, the primary's clock), so every read came after the last write;
    /// a shorter file of that kind is where a run was cut, and only its rest is sent.
    /// Files go largest first to the stream with the fewest bytes so far.
    /// </summary>
    public static ParallelCopyDecision Decide(IReadOnlyList<CopyEntry> source, IReadOnlyList<CopyEntry>? target, double? trustedBefore, int streams)
    {
        if (streams < 1) throw new ArgumentOutOfRangeException(nameof(streams), "At least one stream.");
        var copied = source.Where(e => !IsExcluded(e)).ToList();
        var existing = (target ?? Array.Empty<CopyEntry>()).ToDictionary(e => (e.Root, e.Path));
        var structure = copied.Where(e => e.Type != 'f').OrderBy(e => e.Root).ThenBy(e => e.Path, StringComparer.Ordinal).ToList();
        var files = new List<CopyEntry>();
        var append = new List<(CopyEntry, long)>();
        var (keptFiles, keptBytes) = (0, 0L);
        foreach (var f in copied.Where(e => e.Type == 'f'))
        {
            if (trustedBefore is { } since && f.ModifiedAt < since - 1 && existing.TryGetValue((f.Root, f.Path), out var there) && there.Type == 'f')
            {
                if (there.Size == f.Size && there.ModifiedSecond == f.ModifiedSecond)
                {
                    keptFiles++;
                    keptBytes += f.Size;
                    continue;
                }
                // Cut mid-file: tar writes a file front to back, so a shorter file there holds the start of this one, read
                // after the first run began, when the file had already its content of now (only a copy writes there).
                if (there.Size > 0 && there.Size < f.Size)
                {
                    append.Add((f, there.Size));
                    keptBytes += there.Size;
                    continue;
                }
            }
            files.Add(f);
        }
        // A stream costs an SSH login: a small copy gets one per 64 MiB it sends.
        streams = (int)Math.Clamp((files.Sum(f => f.Size) + (64L << 20) - 1) / (64L << 20), 1, streams);
        var bins = Enumerable.Range(0, streams).Select(_ => new List<CopyEntry>()).ToArray();
        var load = new long[streams];
        bins[0].AddRange(structure);
        foreach (var f in files.OrderByDescending(f => f.Size).ThenBy(f => f.Path, StringComparer.Ordinal))
        {
            var least = Array.IndexOf(load, load.Min());
            bins[least].Add(f);
            load[least] += f.Size;
        }
        var wanted = copied.Select(e => (e.Root, e.Path)).ToHashSet();
        var remove = existing.Values
            .Where(e => e.Type != 'd' && !wanted.Contains((e.Root, e.Path)) && !(e.Root == 0 && e.Path == StateFile))
            .OrderBy(e => e.Root).ThenBy(e => e.Path, StringComparer.Ordinal).ToList();
        return new ParallelCopyDecision
        {
            Streams = bins.Where(b => b.Count > 0).ToList(), Remove = remove, Append = append,
            KeptFiles = keptFiles, KeptBytes = keptBytes, SentFiles = files.Count + append.Count,
            SentBytes = files.Sum(f => f.Size) + append.Sum(a => a.Item1.Size - a.Item2),
        };
    }

    /// <summary>
    /// Not part of a copy (PostgreSQL docs, "Backing Up the Data Directory", the list RsyncCopy excludes): files the server
    /// makes, the contents of pg_wal and the other per-run folders (the folders themselves are kept), temporary files; and
    /// global/pg_control, which is sent on its own, last.
    /// </summary>
    public static bool IsExcluded(CopyEntry e)
    {
        var names = e.Path.Split('/');
        foreach (var pattern in RsyncCopy.Excluded)
        {
            if (!pattern.StartsWith('/'))
            {
                // Unanchored (rsync): any component of the path, so a pgsql_tmp folder takes its contents with it.
                if (names.Any(n => pattern.EndsWith('*') ? n.StartsWith(pattern.TrimEnd('*'), StringComparison.Ordinal) : n == pattern)) return true;
                continue;
            }
            if (e.Root != 0) continue;
            if (pattern.EndsWith("/*", StringComparison.Ordinal))
            {
                if (e.Path.StartsWith(pattern[1..^1], StringComparison.Ordinal)) return true;
            }
            else if (e.Path == pattern[1..]) return true;
        }
        return e.Root == 0 && (e.Path is "global/pg_control" or PendingControl or StateFile);
    }

    /// <summary>Parses the listing script's output: the primary's clock when it began, and the entries.</summary>
    public static (double Now, List<CopyEntry> Entries) ParseListing(string output)
    {
        var entries = new List<CopyEntry>();
        double now = 0;
        var root = -1;
        foreach (var record in output.Split('\0', StringSplitOptions.RemoveEmptyEntries))
        {
            if (record.StartsWith("now ", StringComparison.Ordinal)) { now = double.Parse(record[4..], CultureInfo.InvariantCulture); continue; }
            if (record.StartsWith("root ", StringComparison.Ordinal)) { root = int.Parse(record[5..], CultureInfo.InvariantCulture); continue; }
            var parts = record.Split(' ', 4);
            if (parts.Length < 4 || root < 0 || parts[0].Length != 1) continue;
            entries.Add(new CopyEntry(root, parts[3], parts[0][0], long.Parse(parts[1], CultureInfo.InvariantCulture),
                double.Parse(parts[2], CultureInfo.InvariantCulture)));
        }
        if (now == 0) throw new FormatException("The listing has no start time.");
        return (now, entries);
    }

    /// <summary>A tar -vv line ("-rw------- postgres/postgres 8192 2026-12-05 21:27 base/5/1259"): the path and the size sent.</summary>
    public static (string Path, long Size)? ParseSentLine(string line)
    {
        var parts = line.Split(' ', 6, StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length < 6 || parts[0].Length != 10 || !long.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out var size)) return null;
        var path = parts[0][0] == 'l' && parts[5].IndexOf(" -> ", StringComparison.Ordinal) is var arrow and > 0 ? parts[5][..arrow] : parts[5];
        return (parts[0][0] == 'd' ? path.TrimEnd('/') : path, parts[0][0] == '-' ? size : 0);
    }

    /// <summary>What the state file of an unfinished copy says: whose copy, on which boot of the standby, trusted since when.</summary>
    public static (string SystemIdentifier, string BootId, double Since)? ParseState(string text)
    {
        var parts = text.Trim().Split(' ');
        return parts.Length == 3 && double.TryParse(parts[2], NumberStyles.Float, CultureInfo.InvariantCulture, out var since)
            ? (parts[0], parts[1], since) : null;
    }

    /// <summary>
    /// Whether the unfinished copy in the target can be resumed: its state file names this primary and this boot of the
    /// standby (a restart may have lost writes the copy never synced). Read-only; null when it cannot.
    /// </summary>
    public static double? ResumableSince(IHostShell standbyShell, PgNode standby, string target, PgNode primary)
    {
        const string script = "cat /proc/sys/kernel/random/boot_id; cat -- \"$1/" + StateFile + "\" 2>/dev/null; true";
        var r = standbyShell.Run(new HostCommand("sh", "-c", script, "sh", target) { RunAs = standby.OsUser, Timeout = Short }).EnsureSuccess();
        var lines = r.StandardOutput.Split('\n', 2);
        if (lines.Length < 2 || ParseState(lines[1]) is not { } state) return null;
        return state.SystemIdentifier == primary.SystemIdentifier?.ToString(CultureInfo.InvariantCulture) && state.BootId == lines[0].Trim()
            ? state.Since : null;
    }

    public static void Run(BaseBackupRequest request, BaseBackupPlan plan, IHostShell standbyShell, IHostShell primaryShell, IOperationLog log)
    {
        var (standby, primary) = (request.Standby, request.Primary);
        var major = primary.MajorVersion!.Value;
        var source = primary.DataDirectory ?? throw new InvalidOperationException($"The data directory of {primary.Name} is not known.");
        var target = plan.DataDirectory;
        var local = SshTrust.EnsureForCopy(primary, primaryShell, standby, standbyShell, "Parallel", log);
        var sourceRoots = new List<string> { source };
        sourceRoots.AddRange(plan.Tablespaces.Select(t => t.Location));
        // A tablespace goes to the same path on the standby, as pg_basebackup puts it.
        var targetRoots = new List<string> { target };
        targetRoots.AddRange(plan.Tablespaces.Select(t => t.Location));
        var mkdir = new List<string> { "-p", "-m", "0700", "--" };
        mkdir.AddRange(targetRoots);
        standbyShell.Run(new HostCommand("mkdir", mkdir.ToArray()) { RunAs = standby.OsUser, Timeout = Short }).EnsureSuccess();

        // What an interrupted run left, listed while the backup starts.
        var targetListing = plan.ResumeSince is not null
            ? Concurrently.Start(() => ParseListing(List(standbyShell, standby.OsUser, targetRoots)).Entries) : null;
        var started = DateTime.UtcNow;
        using var session = PgSession.Open(primary, log: log, commandTimeout: request.Timeout);
        // A temporary slot keeps the WAL from the backup's start until it is copied; it ends with this session.
        session.Execute("SELECT pg_catalog.pg_create_physical_replication_slot(@slot, true, true)", ("slot", $"pgreplication_copy_{Guid.NewGuid():N}"[..40]));
        var backup = VersionRules.BackupFunctions(major);
        var label = $"pgreplication {standby.Name} {DateTime.UtcNow:yyyy-MM-ddTHH:mm:ssZ}";
        var startLsn = session.Scalar<string>($"SELECT {backup.Start}::text", ("label", label))!;
        log.Verbose($"{primary.Name}: backup started at {startLsn}.");
        var copied = false;
        try
        {
            var (now, sourceEntries) = ParseListing(List(primaryShell, primary.OsUser, sourceRoots));
            var decision = Decide(sourceEntries, targetListing?.Join(), plan.ResumeSince, plan.Streams);
            // Before anything is sent: whose copy this is and since when its files are trusted (the primary's clock when
            // the first of the runs began: a file kept must have been the same for every run that read it), and
            // PG_VERSION, so that what an interruption leaves is an unfinished copy a rerun recognises.
            var bootId = standbyShell.Run(new HostCommand("cat", "/proc/sys/kernel/random/boot_id") { Timeout = Short }).EnsureSuccess().StandardOutput.Trim();
            HostFiles.Write(standbyShell, RemotePath.Join(target, StateFile),
                Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{primary.SystemIdentifier} {bootId} {plan.ResumeSince ?? now:0.000000000}\n")), "0600", standby.OsUser);
            HostFiles.Write(standbyShell, RemotePath.Join(target, "PG_VERSION"),
                Encoding.UTF8.GetBytes(HostFiles.ReadText(primaryShell, RemotePath.Join(source, "PG_VERSION"), primary.OsUser)), "0600", standby.OsUser);
            if (decision.Remove.Count > 0) Remove(standbyShell, standby, targetRoots, decision.Remove);
            // Every folder exists before any stream starts: stream 0 carries them (with their modes), but another stream
            // may reach a file in base/1 first, and its tar cannot create the file (seen on a loaded machine).
            MakeFolders(standbyShell, standby, targetRoots, decision.Streams[0].Where(e => e.Type == 'd').ToList());
            log.Verbose(plan.ResumeSince is not null
                ? $"{standby.Name}: resuming the copy: {decision.KeptFiles} files ({Mib(decision.KeptBytes)}) kept from the interrupted run, {decision.SentFiles} files ({Mib(decision.SentBytes)}) to send ({decision.Append.Count} from where the cut left them), {decision.Remove.Count} removed."
                : $"{standby.Name}: sending {decision.SentFiles} files ({Mib(decision.SentBytes)}) in {decision.Streams.Count} streams.");

            var progress = new CopyProgress($"Base backup of {primary.Name} to {standby.Name}", decision.SentBytes, started, log);
            var sent = new System.Collections.Concurrent.ConcurrentDictionary<(int, string), long>();
            // pg_control inside the backup, in the first stream, under another name: it is put in place only when everything
            // else is on disk (Finish).
            var control = new CopyEntry(0, "global/pg_control", 'f', 8192, now);
            var streamTasks = decision.Streams.Select((stream, i) => Concurrently.Start(() =>
            {
                foreach (var group in (i == 0 ? stream.Append(control) : stream).GroupBy(e => e.Root))
                    Send(request, plan, primaryShell, sourceRoots[group.Key], targetRoots[group.Key], group.Select(e => e.Path), local,
                        line =>
                        {
                            if (ParseSentLine(line) is not { } s) return;
                            // tar names a member by its path on the primary, before --transform.
                            sent[(group.Key, group.Key == 0 && s.Path == "global/pg_control" ? PendingControl : s.Path)] = s.Size;
                            progress.Add(s.Size);
                        });
                return true;
            })).ToList();
            // The rest of each file the cut run was writing, from where it stopped; its mtime set as tar would have.
            streamTasks.AddRange(decision.Append.Select(a => Concurrently.Start(() =>
            {
                Append(request, primaryShell, sourceRoots[a.File.Root], targetRoots[a.File.Root], a.File, a.Offset, local);
                sent[(a.File.Root, a.File.Path)] = a.File.Size;
                progress.Add(a.File.Size - a.Offset);
                return true;
            })));
            var failures = new List<Exception>();
            foreach (var t in streamTasks)
            {
                try { t.Join(); }
                catch (Exception ex) { failures.Add(ex); }
            }
            if (failures.Count > 0) throw failures[0];
            // As pg_verifybackup checks a manifest without checksums: every file tar sent is on the standby at the size sent.
            var landed = ParseListing(List(standbyShell, standby.OsUser, targetRoots)).Entries.ToDictionary(e => (e.Root, e.Path), e => e.Size);
            var missing = MissingOrShort(sent, landed);
            if (missing.Count > 0)
                throw new InvalidOperationException($"On {standby.Name}, {missing.Count} file(s) sent from {primary.Name} are missing or of another size after the copy " +
                    $"(first: {string.Join(", ", missing.Take(3))}); run again to resume it.");
            copied = true;
            log.Progress(new OperationProgress(progress.Activity, "done", 100, Completed: true));
            log.Verbose($"{standby.Name}: {decision.SentFiles} files ({Mib(progress.Bytes)}) sent in {(DateTime.UtcNow - started).TotalSeconds:0.0} s.");
        }
        finally
        {
            var stop = session.Query($"SELECT lsn::text AS lsn, labelfile, spcmapfile FROM {backup.Stop}").Single();
            if (copied)
            {
                var stopLsn = stop.Text("lsn")!;
                CopyWal(request, plan, session, primaryShell, standbyShell, source, target, startLsn, stopLsn, local, log);
                RsyncCopy.WriteBackupFiles(standbyShell, standby, target, stop);
                log.Verbose($"{primary.Name}: backup stopped at {stopLsn}; backup_label written on {standby.Name}.");
            }
            else
            {
                log.Warning($"{standby.Name}: the copy did not complete; {target} has no global/pg_control, so it cannot start. Run again to resume it.");
            }
        }
        Finish(request, plan, standbyShell, targetRoots, log);
    }

    /// <summary>The standby marker, one syncfs per file system, then pg_control in place and the state file gone.</summary>
    private static void Finish(BaseBackupRequest request, BaseBackupPlan plan, IHostShell shell, IReadOnlyList<string> roots, IOperationLog log)
    {
        var (standby, target) = (request.Standby, plan.DataDirectory);
        var (marker, markerText) = StandbyConfigRules.UsesStandbySignal(request.Primary.MajorVersion!.Value)
            ? (VersionRules.StandbySignal, "") : ("recovery.conf", "standby_mode = 'on'\n");
        // $1 the data directory, $2 the marker, $3 its text, then the other roots.
        const string script =
            "d=$1; m=$2; c=$3; shift 3; { [ -e \"$d/$m\" ] || (umask 077; printf '%s' \"$c\" > \"$d/$m\"); } && " +
            "sync -f \"$d\" \"$d/pg_wal/\" \"$@\" && mv -f -- \"$d/" + PendingControl + "\" \"$d/global/pg_control\" && " +
            "rm -f -- \"$d/" + StateFile + "\" && sync -f \"$d\"";
        var args = new List<string> { "-c", script, "sh", target, marker, markerText };
        args.AddRange(roots.Skip(1).Select(r => r.TrimEnd('/') + "/"));
        var clock = DateTime.UtcNow;
        shell.Run(new HostCommand("sh", args.ToArray()) { RunAs = standby.OsUser, Timeout = TimeSpan.FromMinutes(30) }).EnsureSuccess();
        log.Verbose($"{standby.Name}: copy synced to disk (syncfs) and global/pg_control put in place in {(DateTime.UtcNow - clock).TotalSeconds:0.00} s.");
    }

    /// <summary>The WAL from the backup's start to its stop (pg_backup_stop switched segments, so the last one is complete), and the timeline histories.</summary>
    private static void CopyWal(BaseBackupRequest request, BaseBackupPlan plan, PgSession session, IHostShell primaryShell, IHostShell standbyShell,
        string source, string target, string startLsn, string stopLsn, bool local, IOperationLog log)
    {
        var row = session.Query("SELECT pg_catalog.pg_walfile_name(@start::pg_lsn) AS first, pg_catalog.pg_walfile_name(@stop::pg_lsn) AS last",
            ("start", startLsn), ("stop", stopLsn)).Single();
        var (first, last) = (row.Text("first")!, row.Text("last")!);
        var names = primaryShell.Run(new HostCommand("ls", "-1", "--", RemotePath.Join(source, "pg_wal")) { RunAs = request.Primary.OsUser, Timeout = Short })
            .EnsureSuccess().StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var wal = WalSegmentsBetween(names, first, last);
        if (!wal.Contains(first) || !wal.Contains(last))
            throw new InvalidOperationException($"On {request.Primary.Name}, the WAL of the backup ({first} to {last}) is no longer in pg_wal.");
        var paths = wal.Concat(names.Where(n => n.EndsWith(".history", StringComparison.Ordinal))).Select(n => "pg_wal/" + n).ToList();
        Send(request, plan, primaryShell, source, target, paths, local, _ => { });
        log.Verbose($"{request.Standby.Name}: WAL {first} to {last} copied ({wal.Count} segments).");
    }

    /// <summary>Files sent (path and size as tar read them) that the target's listing lacks or has shorter (pure).</summary>
    public static List<string> MissingOrShort(IReadOnlyDictionary<(int Root, string Path), long> sent, IReadOnlyDictionary<(int Root, string Path), long> landed) =>
        sent.Where(s => !landed.TryGetValue(s.Key, out var size) || size < s.Value)
            .Select(s => s.Key.Root == 0 ? s.Key.Path : $"tablespace {s.Key.Root}: {s.Key.Path}").OrderBy(p => p, StringComparer.Ordinal).ToList();

    /// <summary>The segment names from <paramref name="first"/> to <paramref name="last"/> among <paramref name="names"/> (same timeline, in order).</summary>
    public static List<string> WalSegmentsBetween(IEnumerable<string> names, string first, string last) =>
        names.Where(n => n.Length == 24 && n.All(Uri.IsHexDigit) && n[..8] == first[..8] &&
                         string.CompareOrdinal(n, first) >= 0 && string.CompareOrdinal(n, last) <= 0)
             .OrderBy(n => n, StringComparer.Ordinal).ToList();

    private static string List(IHostShell shell, string user, IReadOnlyList<string> roots)
    {
        var args = new List<string> { "-c", ListScript, "sh" };
        args.AddRange(roots);
        return shell.Run(new HostCommand("sh", args.ToArray()) { RunAs = user, Timeout = TimeSpan.FromMinutes(10) }).EnsureSuccess().StandardOutput;
    }

    private static void MakeFolders(IHostShell shell, PgNode standby, IReadOnlyList<string> roots, IReadOnlyList<CopyEntry> folders) =>
        OnStandbyPaths(shell, standby, roots, folders, "mkdir -p -m 0700 --");

    private static void Remove(IHostShell shell, PgNode standby, IReadOnlyList<string> roots, IReadOnlyList<CopyEntry> entries) =>
        OnStandbyPaths(shell, standby, roots, entries, "rm -f --");

    /// <summary>Runs <paramref name="command"/> (a constant) on the entries' paths, per root, the list NUL-separated on stdin.</summary>
    private static void OnStandbyPaths(IHostShell shell, PgNode standby, IReadOnlyList<string> roots, IEnumerable<CopyEntry> entries, string command)
    {
        foreach (var group in entries.GroupBy(e => e.Root))
        {
            var list = Encoding.UTF8.GetBytes(string.Join('\0', group.Select(e => e.Path)) + "\0");
            shell.Run(new HostCommand("sh", "-c", "cd \"$1\" && xargs -0 " + command, "sh", roots[group.Key])
            { RunAs = standby.OsUser, StandardInput = list, Timeout = TimeSpan.FromMinutes(10) }).EnsureSuccess();
        }
    }

    /// <summary>The receiving tar's flags: CopyLeftovers recognises an earlier run's receivers by them (`tar -C root -xpf -`).</summary>
    internal const string ReceiverTarFlags = "-xpf";

    /// <summary>One tar stream of <paramref name="paths"/> (relative to both roots) from the primary into the standby.</summary>
    private static void Send(BaseBackupRequest request, BaseBackupPlan plan, IHostShell primaryShell, string sourceRoot, string targetRoot,
        IEnumerable<string> paths, bool local, Action<string> onSent)
    {
        var receive = $"tar -C {ShellQuote.Quote(targetRoot)} {ReceiverTarFlags} -";
        var tarExit = -1;
        var tail = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var command = new HostCommand("sh", SendArguments(request.Standby, sourceRoot, receive, local))
        {
            RunAs = request.Primary.OsUser,
            StandardInput = Encoding.UTF8.GetBytes(string.Join('\0', paths) + "\0"),
            Timeout = request.Timeout,
            OnErrorLine = line =>
            {
                if (line.StartsWith("pgreplication-tar-exit=", StringComparison.Ordinal)) tarExit = int.Parse(line[23..], CultureInfo.InvariantCulture);
                else if (ParseSentLine(line) is not null) onSent(line);
                else { tail.Enqueue(line); while (tail.Count > 20) tail.TryDequeue(out _); }
            },
        };
        var r = primaryShell.Run(command);
        // tar: 0 done, 1 a file changed or shrank while read (the WAL replay puts it right).
        if (!r.Succeeded || tarExit is not (0 or 1))
            throw new HostCommandException(primaryShell.HostName,
                $"Sending files from {request.Primary.Name} to {request.Standby.Name} failed (tar exit {tarExit}). {r.Describe()} {string.Join(" | ", tail)}".Trim());
    }

    private static void Append(BaseBackupRequest request, IHostShell primaryShell, string sourceRoot, string targetRoot, CopyEntry file, long offset, bool local)
    {
        var target = ShellQuote.Quote(targetRoot.TrimEnd('/') + "/" + file.Path);
        var receive = $"cat >> {target} && touch -m -d @{file.ModifiedSecond.ToString(CultureInfo.InvariantCulture)} {target}";
        var args = new List<string>
        {
            "-c", "f=$1; o=$2; how=$3; shift 3; tail -c +\"$((o + 1))\" -- \"$f\" | if [ \"$how\" = local ]; then sh -c \"$1\"; else ssh \"$@\"; fi",
            "sh", sourceRoot.TrimEnd('/') + "/" + file.Path, offset.ToString(CultureInfo.InvariantCulture), local ? "local" : "ssh",
        };
        if (!local)
        {
            args.AddRange(SshTrust.ClientArguments(request.Standby));
            args.Add(SshTrust.Destination(request.Standby));
        }
        args.Add(receive);
        primaryShell.Run(new HostCommand("sh", args.ToArray()) { RunAs = request.Primary.OsUser, Timeout = request.Timeout }).EnsureSuccess();
    }

    private static string[] SendArguments(PgNode standby, string sourceRoot, string receive, bool local)
    {
        var args = new List<string> { "-c", SendScript, "sh", sourceRoot, local ? "local" : "ssh" };
        if (local) args.Add(receive);
        else
        {
            args.AddRange(SshTrust.ClientArguments(standby));
            args.Add(SshTrust.Destination(standby));
            args.Add(receive);
        }
        return args.ToArray();
    }

    private static string Mib(long bytes) => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1048576.0:0.0} MiB");

    /// <summary>Bytes, files and rate for Write-Progress, from every stream at once.</summary>
    private sealed class CopyProgress
    {
        private readonly long _total;
        private readonly DateTime _started;
        private readonly IOperationLog _log;
        private long _bytes;
        private int _files;
        private long _lastReport;

        public CopyProgress(string activity, long total, DateTime started, IOperationLog log) => (Activity, _total, _started, _log) = (activity, total, started, log);
        public string Activity { get; }
        public long Bytes => Interlocked.Read(ref _bytes);

        public void Add(long size)
        {
            var bytes = Interlocked.Add(ref _bytes, size);
            var files = Interlocked.Increment(ref _files);
            var now = DateTime.UtcNow.Ticks;
            var last = Interlocked.Read(ref _lastReport);
            if (now - last < TimeSpan.TicksPerMillisecond * 250 || Interlocked.CompareExchange(ref _lastReport, now, last) != last) return;
            var seconds = Math.Max(0.001, (DateTime.UtcNow - _started).TotalSeconds);
            _log.Progress(new OperationProgress(Activity,
                string.Create(CultureInfo.InvariantCulture, $"{bytes / 1048576.0:0.0} of {_total / 1048576.0:0.0} MiB, {files} files, {bytes / 1048576.0 / seconds:0.0} MiB/s"),
                _total > 0 ? (int)Math.Clamp(bytes * 100 / _total, 0, 100) : -1));
        }
    }
}
