using System.Collections.Concurrent;
using System.Security.Cryptography;

namespace PgReplication.Core.Hosts;

/// <summary>
/// The small files one plan reads on one host, each read once. <see cref="Prefetch"/> reads several in one command: a
/// command over SSH costs a round trip and a few processes on the host (sh, env, timeout), and a standby's plan reads
/// half a dozen files, which on a busy host took longer than the rest of the plan (issue 19: re-pointing a sibling).
/// A path not prefetched is read on its own when asked for, as <see cref="HostFiles"/> reads it. Only for a plan's
/// reads: what a file holds just before it is written again is read afresh.
/// </summary>
public sealed class HostFileReads
{
    private sealed record FileState(bool Exists, int? Mode, string? Text);

    private readonly IHostShell _shell;
    private readonly string _user;
    private readonly ConcurrentDictionary<string, FileState> _read = new(StringComparer.Ordinal);
    private volatile string? _home;
    // The reads StartPrefetch started; every read waits for them first.
    private Task<bool>? _pending;
    private const string HomePrefix = "~/";

    /// <param name="user">The OS user the files are read as (the node's).</param>
    public HostFileReads(IHostShell shell, string user)
    {
        _shell = shell;
        _user = user;
    }

    /// <summary>The home directory of the user (read once; <see cref="Prefetch"/> reads it with the files).</summary>
    public string Home
    {
        get
        {
            AwaitPrefetch();
            return _home ??= HostFiles.HomeOf(_shell, _user);
        }
    }

    /// <summary>A path in the user's home directory, for <see cref="Prefetch"/> before the home is known: "~/" and the rest.</summary>
    public static string InHome(string relative) => HomePrefix + relative;

    /// <summary>
    /// <see cref="Prefetch"/> on a thread of its own, started now; every read waits for it first. A failure here is not
    /// reported: the reads then read each file on its own, and fail as a single read fails.
    /// </summary>
    public void StartPrefetch(IEnumerable<string> paths)
    {
        var list = paths.ToList();
        _pending = Concurrently.Start(() => { Prefetch(list); return true; });
    }

    private void AwaitPrefetch()
    {
        if (_pending is not { } pending) return;
        try { pending.Join(); }
        catch (Exception ex) when (ex is HostCommandException or InvalidOperationException or ArgumentException) { }
    }

    /// <summary>
    /// Reads every path in one command: whether it exists, its mode, and its text when it is a regular file the user can
    /// read. A path that exists but cannot be read is read again on its own when its text is asked for, so the error is
    /// the one a single read gives.
    /// </summary>
    public void Prefetch(IEnumerable<string> paths)
    {
        var wanted = paths.Distinct(StringComparer.Ordinal).Where(p => !_read.ContainsKey(p)).ToList();
        if (wanted.Count == 0) return;
        foreach (var path in wanted) HostFiles.ValidatePath(_shell, InHomeDirectory(path) ? path[1..] : path);
        // Each path's header line starts with a boundary no file holds (random, per call), preceded by a newline of our
        // own, so a file's text is exactly what lies between its header and the next one. $1 is the boundary, $2 the
        // user, whose home (from the passwd database, as HostFiles.HomeOf reads it) comes first and stands for "~/".
        const string script = """
            b=$1; u=$2; shift 2
            h=$(getent passwd "$u" | cut -d: -f6)
            printf '\n%s home %s\n' "$b" "$h"
            for p in "$@"; do
              case $p in "~/"*) [ -n "$h" ] || exit 1; p="$h/${p#??}";; esac
              if [ -e "$p" ]; then
                m=$(stat -L -c %a -- "$p") || exit 1
                if [ -f "$p" ] && [ -r "$p" ]; then printf '\n%s %s text\n' "$b" "$m"; cat -- "$p" || exit 1
                else printf '\n%s %s none\n' "$b" "$m"; fi
              else printf '\n%s - none\n' "$b"; fi
            done
            printf '\n%s end\n' "$b"
            """;
        var boundary = "--pgreplication-" + Convert.ToHexString(RandomNumberGenerator.GetBytes(16));
        var output = _shell.Run(new HostCommand("sh", new[] { "-c", script, "sh", boundary, _user }.Concat(wanted).ToArray())
        { RunAs = _user, Timeout = TimeSpan.FromSeconds(60) }).EnsureSuccess().StandardOutput;
        var parts = output.Split("\n" + boundary + " ");
        if (parts.Length != wanted.Count + 3 || parts[0].Length != 0 || !parts[1].StartsWith("home ", StringComparison.Ordinal) || parts[^1].TrimEnd() != "end")
            throw new InvalidOperationException($"On {_shell.HostName}, reading {string.Join(", ", wanted)} gave output that does not parse.");
        var home = parts[1]["home ".Length..].TrimEnd('\n');
        if (home.StartsWith('/')) _home ??= home;
        else home = "/"; // no home: the script refused any "~/" path already
        for (var i = 0; i < wanted.Count; i++)
        {
            var part = parts[i + 2];
            var newline = part.IndexOf('\n');
            var header = (newline < 0 ? part : part[..newline]).Split(' ');
            var path = InHomeDirectory(wanted[i]) ? RemotePath.Join(home, wanted[i][HomePrefix.Length..]) : wanted[i];
            _read[path] = header[0] == "-"
                ? new FileState(false, null, null)
                : new FileState(true, Convert.ToInt32(header[0], 8), header[1] == "text" ? part[(newline + 1)..] : null);
        }
    }

    private static bool InHomeDirectory(string path) => path.StartsWith(HomePrefix, StringComparison.Ordinal);

    /// <summary>The file's text and mode, or ("", null) when it does not exist (as <see cref="HostFiles.ReadTextAndMode"/>).</summary>
    public (string Text, int? Mode) ReadTextAndMode(string path)
    {
        AwaitPrefetch();
        var state = _read.GetOrAdd(path, p =>
        {
            var (text, mode) = HostFiles.ReadTextAndMode(_shell, p, _user);
            return new FileState(mode is not null, mode, mode is null ? null : text);
        });
        if (state.Exists && state.Text is null)
        {
            // Prefetched but not readable as text: the single read says why.
            var (text, mode) = HostFiles.ReadTextAndMode(_shell, path, _user);
            return (text, mode);
        }
        return (state.Text ?? "", state.Mode);
    }

    /// <summary>The file's text, or "" when it does not exist.</summary>
    public string ReadTextOrEmpty(string path) => ReadTextAndMode(path).Text;

    /// <summary>Whether the path exists (as the user sees it).</summary>
    public bool Exists(string path)
    {
        AwaitPrefetch();
        return _read.TryGetValue(path, out var state) ? state.Exists : HostFiles.Exists(_shell, path, _user);
    }
}
