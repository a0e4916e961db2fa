using PgReplication.Core.Hosts;

namespace PgReplication.Core.Operations;

/// <summary>
/// etcd and Patroni run as supervised daemons of the database's OS user: &lt;dir&gt;/supervise.sh starts the program again when
/// it ends and keeps its own PID in &lt;dir&gt;/&lt;name&gt;.pid; TERM to that PID stops both. Started with setsid and no open
/// descriptors, so neither the SSH session nor the command's deadline on the host takes it down.
/// </summary>
public static class HaDaemons
{
    /// <summary>True when the supervisor of <paramref name="name"/> runs (its PID file names a live process).</summary>
    public static bool IsRunning(IHostShell shell, string user, string directory, string name)
    {
        var r = shell.Run(new HostCommand("sh", "-c", "p=$(cat \"$1/$2.pid\" 2>/dev/null) && [ -n \"$p\" ] && kill -0 \"$p\" 2>/dev/null", "sh", directory, name)
        { RunAs = user, Timeout = TimeSpan.FromSeconds(30) });
        if (r.TimedOut || r.Signal is not null) r.EnsureSuccess();
        return r.ExitCode == 0;
    }

    /// <summary>Starts the supervisor of <paramref name="program"/> unless it runs already.</summary>
    public static void Start(IHostShell shell, string user, string directory, string name, params string[] program)
    {
        if (IsRunning(shell, user, directory, name)) return;
        // $1 = supervisor, $2 = name, then the program and its arguments.
        const string launch = "s=$1; shift; setsid sh \"$s\" \"$@\" </dev/null >/dev/null 2>&1 &";
        shell.Run(new HostCommand("sh", new[] { "-c", launch, "sh", directory + "/supervise.sh", name }.Concat(program).ToArray())
        { RunAs = user, Timeout = TimeSpan.FromSeconds(30) }).EnsureSuccess();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (!IsRunning(shell, user, directory, name))
        {
            if (DateTime.UtcNow > deadline)
                throw new HostCommandException(shell.HostName, $"On {shell.HostName}, the supervisor of {name} did not start (see {directory}/{name}.log).");
            Thread.Sleep(100);
        }
    }

    /// <summary>The host runs systemd (PID 1 is systemd and systemctl is there): the daemons then run as units, started at boot.</summary>
    public static bool HasSystemd(IHostShell shell, string user)
    {
        var r = shell.Run(new HostCommand("sh", "-c", "[ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1") { RunAs = user, Timeout = TimeSpan.FromSeconds(30) });
        if (r.TimedOut || r.Signal is not null) r.EnsureSuccess();
        return r.ExitCode == 0;
    }

    /// <summary>True when the unit is active.</summary>
    public static bool IsUnitActive(IHostShell shell, string user, string unit)
    {
        var r = shell.Run(new HostCommand("systemctl", "is-active", "--quiet", unit) { RunAs = user, Timeout = TimeSpan.FromSeconds(30) });
        if (r.TimedOut || r.Signal is not null) r.EnsureSuccess();
        return r.ExitCode == 0;
    }

    /// <summary>Writes the unit (root's, 0644: it holds no secret, only paths), then enables and starts it (as root, through sudo -n).</summary>
    public static void StartUnit(IHostShell shell, string unit, string text)
    {
        HostFiles.Write(shell, "/etc/systemd/system/" + unit, System.Text.Encoding.UTF8.GetBytes(text), "0644", "root");
        shell.Run(new HostCommand("systemctl", "daemon-reload") { RunAs = "root", Timeout = TimeSpan.FromSeconds(60) }).EnsureSuccess();
        shell.Run(new HostCommand("systemctl", "enable", "--now", unit) { RunAs = "root", Timeout = TimeSpan.FromSeconds(120) }).EnsureSuccess();
    }

    /// <summary>Stops and disables the unit when there is one (its file stays: Enable-PgAutoFailover writes it again).</summary>
    public static void StopUnit(IHostShell shell, string unit, TimeSpan timeout)
    {
        if (!HostFiles.Exists(shell, "/etc/systemd/system/" + unit, "root")) return;
        shell.Run(new HostCommand("systemctl", "disable", "--now", unit) { RunAs = "root", Timeout = timeout + TimeSpan.FromSeconds(30) }).EnsureSuccess();
    }

    /// <summary>TERM to the supervisor (which stops the program first) and waits until both are gone; nothing when it does not run.</summary>
    public static void Stop(IHostShell shell, string user, string directory, string name, TimeSpan timeout)
    {
        // The supervisor's children are the program (and its own children); wait for the supervisor, which waits for the program.
        const string script = "p=$(cat \"$1/$2.pid\" 2>/dev/null) || exit 0; [ -n \"$p\" ] || exit 0; kill -TERM \"$p\" 2>/dev/null || exit 0; " +
                              "i=0; while kill -0 \"$p\" 2>/dev/null; do i=$((i+1)); [ $i -gt $3 ] && exit 4; sleep 0.1; done; exit 0";
        var ticks = ((int)(timeout.TotalSeconds * 10)).ToString(System.Globalization.CultureInfo.InvariantCulture);
        var r = shell.Run(new HostCommand("sh", "-c", script, "sh", directory, name, ticks) { RunAs = user, Timeout = timeout + TimeSpan.FromSeconds(10) });
        if (r.ExitCode == 4) throw new HostCommandException(shell.HostName, $"On {shell.HostName}, {name} did not stop within {timeout.TotalSeconds:0} s.");
        r.EnsureSuccess();
    }
}
