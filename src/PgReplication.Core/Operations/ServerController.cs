using PgReplication.Core.Hosts;
using PgReplication.Core.Model;
using PgReplication.Core.Sql;

namespace PgReplication.Core.Operations;

/// <summary>Starts, stops and restarts a server the way its host runs it (pg_ctlcluster or pg_ctl).</summary>
public static class ServerController
{
    public static void Start(PgNode node, IHostShell shell, IOperationLog log, TimeSpan timeout) =>
        Control(node, shell, log, "start", timeout);

    public static void Stop(PgNode node, IHostShell shell, IOperationLog log, TimeSpan timeout, string mode = "fast") =>
        Control(node, shell, log, "stop", timeout, mode);

    public static void Restart(PgNode node, IHostShell shell, IOperationLog log, TimeSpan timeout) =>
        Control(node, shell, log, "restart", timeout, "fast");

    /// <summary>Before 12 (no pg_promote()): pg_ctl promote, waiting until recovery has ended.</summary>
    public static void Promote(PgNode node, IHostShell shell, IOperationLog log, TimeSpan timeout)
    {
        var seconds = ((int)Math.Ceiling(timeout.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
        var command = new HostCommand(RemotePath.Join(BinDirectory(node, shell), "pg_ctl"), "promote", "-D", Require(node.DataDirectory, node, "data directory"), "-w", "-t", seconds)
        { RunAs = node.OsUser, Timeout = timeout + TimeSpan.FromSeconds(15) };
        log.Debug($"On {shell.HostName}: {command.ToShellText(shell.CurrentUser)}");
        shell.Run(command).EnsureSuccess();
    }

    /// <summary>
    /// True when the postmaster runs: pg_ctl status checks the PID in postmaster.pid is alive
    /// (after kill -9 the file stays behind, so the file alone proves nothing).
    /// </summary>
    public static bool IsRunning(PgNode node, IHostShell shell)
    {
        var r = shell.Run(new HostCommand(RemotePath.Join(BinDirectory(node, shell), "pg_ctl"), "status", "-D", Require(node.DataDirectory, node, "data directory"))
        { RunAs = node.OsUser, Timeout = TimeSpan.FromSeconds(30) });
        if (r.TimedOut || r.Signal is not null) r.EnsureSuccess();
        return r.ExitCode == 0;
    }

    /// <summary>How often a wait for a server (accepting, streaming, on a new timeline) asks again: a question costs a millisecond or two.</summary>
    public static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(50);

    /// <summary>Waits until the server accepts SQL connections (after a start, or a restart).</summary>
    public static void WaitUntilAccepting(PgNode node, IOperationLog log, TimeSpan timeout, PgEndpoint? via = null)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            try
            {
                using var session = PgSession.Open(node, log: NullOperationLog.Instance, via: via, connectTimeout: TimeSpan.FromSeconds(5));
                session.Scalar<int>("SELECT 1");
                return;
            }
            // Not answering yet, or starting up: wait. A refused login (wrong password, no pg_hba line) will not get better.
            catch (PgConnectionException ex) when (ex.SqlState is null or "57P03" && DateTime.UtcNow < deadline) { Thread.Sleep(PollInterval); }
            catch (PgQueryException ex) when (ex.SqlState == "57P03" && DateTime.UtcNow < deadline) { Thread.Sleep(PollInterval); } // starting up
        }
    }

    /// <summary>
    /// Where this node's major's programs are on its host: the node's own BinDirectory, the folder of the
    /// server running in its data directory, Debian's /usr/lib/postgresql/&lt;major&gt;/bin, then
    /// pg_config --bindir. Checked to be the right major.
    /// </summary>
    public static string BinDirectory(PgNode node, IHostShell shell, int? major = null, string? preferred = null) =>
        TryBinDirectory(node, shell, out var looked, major, preferred)
        ?? throw new HostCommandException(shell.HostName,
            $"On {shell.HostName}, no PostgreSQL {major ?? node.MajorVersion} programs were found (looked in {string.Join(", ", looked)}). Give -BinDirectory.");

    /// <summary><see cref="BinDirectory"/>, or null (with the folders it looked in) when none has the programs.</summary>
    /// <remarks>
    /// The folder found is kept on the node (a fact about the host, like its version: -WhatIf may learn it too);
    /// <paramref name="preferred"/> is a guess (-BinDirectory, the primary's folder), tried first and kept only once checked.
    /// </remarks>
    public static string? TryBinDirectory(PgNode node, IHostShell shell, out IReadOnlyList<string> looked, int? major = null, string? preferred = null)
    {
        major ??= node.MajorVersion;
        var tried = new List<string>();
        looked = tried;
        // Asked once per connection: a step that needs pg_ctl, then pg_controldata, does not ask the host again.
        var known = CheckedBinDirectories.GetOrCreateValue(shell);
        if ((preferred ?? node.BinDirectory) is { } given && known.ContainsKey((given, major)))
        {
            node.BinDirectory = given;
            return given;
        }
        // Each candidate is found only when the ones before it failed: every probe is a command on the host.
        foreach (var candidate in Candidates(node, shell, major, preferred))
        {
            if (candidate is null || tried.Contains(candidate)) continue;
            tried.Add(candidate);
            var r = shell.Run(new HostCommand(RemotePath.Join(candidate, "pg_ctl"), "--version") { Timeout = TimeSpan.FromSeconds(30) });
            if (!r.Succeeded) continue;
            if (major is null || Versions.PgVersion.TryParse(r.StandardOutput, out var v) && v.Major == major)
            {
                known[(candidate, major)] = true;
                node.BinDirectory = candidate;
                return candidate;
            }
        }
        return null;
    }

    /// <summary>The program folders found to hold the right major, per open shell (forgotten with it).</summary>
    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<IHostShell, System.Collections.Concurrent.ConcurrentDictionary<(string, int?), bool>> CheckedBinDirectories = new();

    private static IEnumerable<string?> Candidates(PgNode node, IHostShell shell, int? major, string? preferred)
    {
        yield return preferred;
        yield return node.BinDirectory;
        yield return RunningServerDirectory(node, shell);
        if (major is not null) yield return $"/usr/lib/postgresql/{major}/bin";
        var pgConfig = shell.Run(new HostCommand("sh", "-c", "command -v pg_config >/dev/null && pg_config --bindir") { Timeout = TimeSpan.FromSeconds(30) });
        if (pgConfig.Succeeded && pgConfig.StandardOutput.Trim() is { Length: > 0 } dir) yield return dir;
    }

    /// <summary>
    /// The folder of the postmaster running in the node's data directory (postmaster.pid's first line is
    /// its PID): an upstream build installed anywhere is found without -BinDirectory.
    /// </summary>
    private static string? RunningServerDirectory(PgNode node, IHostShell shell)
    {
        if (node.DataDirectory is not { } data) return null;
        var r = shell.Run(new HostCommand("sh", "-c", "p=$(head -n 1 \"$1/postmaster.pid\") && readlink \"/proc/$p/exe\"", "sh", data)
        { RunAs = node.OsUser, Timeout = TimeSpan.FromSeconds(30) });
        return r.Succeeded && r.StandardOutput.Trim() is { Length: > 0 } exe && exe.StartsWith('/') ? RemotePath.Parent(exe) : null;
    }

    private static void Control(PgNode node, IHostShell shell, IOperationLog log, string action, TimeSpan timeout, string? mode = null)
    {
        var seconds = ((int)Math.Ceiling(timeout.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
        HostCommand command;
        string? serverLog = null;
        if (node.Control == ServerControl.PgCtlCluster && node.ClusterName is not null && node.MajorVersion is not null)
        {
            var args = new List<string> { node.MajorVersion.Value.ToString(System.Globalization.CultureInfo.InvariantCulture), node.ClusterName, action };
            if (mode is not null) args.AddRange(new[] { "--", "-m", mode, "-t", seconds });
            else args.AddRange(new[] { "--", "-t", seconds });
            command = new HostCommand("pg_ctlcluster", args.ToArray()) { RunAs = node.OsUser, Timeout = timeout + TimeSpan.FromSeconds(15) };
        }
        else
        {
            var data = Require(node.DataDirectory, node, "data directory");
            var args = new List<string> { "-D", data, "-w", "-t", seconds };
            if (mode is not null) args.AddRange(new[] { "-m", mode });
            // pg_ctl's server output must go to a file: an inherited stdout would keep our pipe open forever.
            if (action != "stop") args.AddRange(new[] { "-l", serverLog = RemotePath.Join(data, "log", "pg_ctl.log") });
            args.Add(action);
            if (action != "stop")
                shell.Run(new HostCommand("mkdir", "-p", "-m", "0700", RemotePath.Join(data, "log")) { RunAs = node.OsUser, Timeout = TimeSpan.FromSeconds(30) }).EnsureSuccess();
            command = new HostCommand(RemotePath.Join(BinDirectory(node, shell), "pg_ctl"), args.ToArray()) { RunAs = node.OsUser, Timeout = timeout + TimeSpan.FromSeconds(15) };
        }
        log.Verbose($"{node.Name}: {action} the server.");
        log.Debug($"On {shell.HostName}: {command.ToShellText(shell.CurrentUser)}");
        var result = shell.Run(command);
        if (!result.Succeeded && serverLog is not null)
        {
            // pg_ctl only says "Examine the log output": the reason (a port in use, a bad setting) is in its log, which
            // the caller may not be able to read, or may remove with the directory.
            var tail = shell.Run(new HostCommand("tail", "-n", "15", "--", serverLog) { RunAs = node.OsUser, Timeout = TimeSpan.FromSeconds(30) });
            if (tail.Succeeded && tail.StandardOutput.Trim() is { Length: > 0 } lines)
                throw new HostCommandException(result, $"The last lines of {serverLog}:\n{lines}");
        }
        result.EnsureSuccess();
    }

    private static string Require(string? value, PgNode node, string what) =>
        value ?? throw new InvalidOperationException($"The {what} of {node.Name} is not known: discover the node first.");
}
