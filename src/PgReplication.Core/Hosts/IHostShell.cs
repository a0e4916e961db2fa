namespace PgReplication.Core.Hosts;

/// <summary>Runs programs and moves files on the host of a node: here (LocalShell) or over SSH (SshShell).</summary>
public interface IHostShell : IDisposable
{
    /// <summary>The host's name as the user gave it; every error names it.</summary>
    string HostName { get; }
    /// <summary>The OS user commands run as before any RunAs wrapping.</summary>
    string CurrentUser { get; }
    /// <summary>The host key this connection verified ("SHA256:..."); null for this machine.</summary>
    string? HostKeyFingerprint { get; }
    CommandResult Run(HostCommand command);
}

/// <summary>File access built on <see cref="IHostShell.Run"/>, so it works the same here, over SSH and through sudo.</summary>
public static class HostFiles
{
    /// <summary>
    /// Writes a file atomically as <paramref name="owner"/>: the content goes on stdin to a temporary
    /// file created under umask 077, chmod, fsync, then renamed over the target. The previous
    /// copy is kept as &lt;path&gt;.&lt;suffix&gt; when <paramref name="backupSuffix"/> is given.
    /// </summary>
    public static void Write(IHostShell shell, string path, byte[] content, string mode, string owner,
        string? backupSuffix = null, TimeSpan? timeout = null)
    {
        ValidatePath(shell, path);
        if (!System.Text.RegularExpressions.Regex.IsMatch(mode, "^0?[0-7]{3}$"))
            throw new ArgumentException($"'{mode}' is not an octal file mode.", nameof(mode));
        // $1 = target, $2 = mode, $3 = backup suffix (may be empty). The script is constant text; values are arguments.
        const string script =
            "set -e; umask 077; tmp=\"$1.pgrepl-tmp.$$\"; " +
            "trap 'rm -f \"$tmp\"' EXIT; cat > \"$tmp\"; chmod \"$2\" \"$tmp\"; sync \"$tmp\" 2>/dev/null || sync; " +
            "if [ -n \"$3\" ] && [ -e \"$1\" ]; then cp -p \"$1\" \"$1$3\"; fi; mv -f \"$tmp\" \"$1\"; trap - EXIT";
        shell.Run(new HostCommand("sh", "-c", script, "sh", path, mode, backupSuffix ?? "")
        {
            RunAs = owner,
            StandardInput = content,
            Timeout = timeout ?? TimeSpan.FromSeconds(60),
        }).EnsureSuccess();
    }

    /// <summary>
    /// The suffix under which an edited configuration file's previous copy is kept: ".pgreplication-" and the UTC time
    /// to the second, so the copies of several edits sort by time and none overwrites another.
    /// </summary>
    public static string TimestampedBackupSuffix() =>
        ".pgreplication-" + DateTime.UtcNow.ToString("yyyyMMddHHmmss", System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Reads a file as <paramref name="user"/>.</summary>
    public static string ReadText(IHostShell shell, string path, string user, TimeSpan? timeout = null)
    {
        ValidatePath(shell, path);
        return shell.Run(new HostCommand("cat", "--", path) { RunAs = user, Timeout = timeout ?? TimeSpan.FromSeconds(60) })
            .EnsureSuccess().StandardOutput;
    }

    /// <summary>
    /// The file's text, or "" when it does not exist: one command on the host, where Exists then ReadText are two.
    /// A file that exists but cannot be read is an error.
    /// </summary>
    public static string ReadTextOrEmpty(IHostShell shell, string path, string user, TimeSpan? timeout = null)
    {
        ValidatePath(shell, path);
        // Exit 3 (not cat's 1) says "missing", so an unreadable file still fails below.
        var r = shell.Run(new HostCommand("sh", "-c", "[ -e \"$1\" ] || exit 3; exec cat -- \"$1\"", "sh", path)
        { RunAs = user, Timeout = timeout ?? TimeSpan.FromSeconds(60) });
        if (r.ExitCode == 3 && !r.TimedOut && r.Signal is null) return "";
        return r.EnsureSuccess().StandardOutput;
    }

    /// <summary>
    /// The file's text and its permission bits (stat's %a), or ("", null) when it does not exist: one command on the
    /// host, so a plan that reads a file learns whether other users can read it at no extra cost.
    /// </summary>
    public static (string Text, int? Mode) ReadTextAndMode(IHostShell shell, string path, string user, TimeSpan? timeout = null)
    {
        ValidatePath(shell, path);
        // Exit 3 says "missing"; the first line is the mode in octal, the rest the file as it is.
        var r = shell.Run(new HostCommand("sh", "-c", "[ -e \"$1\" ] || exit 3; stat -L -c %a -- \"$1\" && exec cat -- \"$1\"", "sh", path)
        { RunAs = user, Timeout = timeout ?? TimeSpan.FromSeconds(60) });
        if (r.ExitCode == 3 && !r.TimedOut && r.Signal is null) return ("", null);
        var output = r.EnsureSuccess().StandardOutput;
        var newline = output.IndexOf('\n');
        if (newline < 0) throw new InvalidOperationException($"On {shell.HostName}, stat printed no mode for {path}.");
        return (output[(newline + 1)..], Convert.ToInt32(output[..newline].Trim(), 8));
    }

    /// <summary>The permission bits of a path (stat's %a), or null when it does not exist.</summary>
    public static int? Mode(IHostShell shell, string path, string user)
    {
        ValidatePath(shell, path);
        var r = shell.Run(new HostCommand("sh", "-c", "[ -e \"$1\" ] || exit 3; exec stat -L -c %a -- \"$1\"", "sh", path)
        { RunAs = user, Timeout = TimeSpan.FromSeconds(30) });
        if (r.ExitCode == 3 && !r.TimedOut && r.Signal is null) return null;
        return Convert.ToInt32(r.EnsureSuccess().StandardOutput.Trim(), 8);
    }

    /// <summary>True when the path exists (as <paramref name="user"/> sees it).</summary>
    public static bool Exists(IHostShell shell, string path, string user)
    {
        ValidatePath(shell, path);
        var r = shell.Run(new HostCommand("test", "-e", path) { RunAs = user, Timeout = TimeSpan.FromSeconds(30) });
        if (r.TimedOut || r.Signal is not null) r.EnsureSuccess();
        return r.ExitCode == 0;
    }

    /// <summary>Removes a file if present.</summary>
    public static void Remove(IHostShell shell, string path, string user)
    {
        ValidatePath(shell, path);
        shell.Run(new HostCommand("rm", "-f", "--", path) { RunAs = user, Timeout = TimeSpan.FromSeconds(30) }).EnsureSuccess();
    }

    /// <summary>The home directory of an OS user on the host (from the passwd database, not guessed).</summary>
    public static string HomeOf(IHostShell shell, string user)
    {
        var fields = shell.Run(new HostCommand("getent", "passwd", user) { Timeout = TimeSpan.FromSeconds(30) })
            .EnsureSuccess().StandardOutput.Trim().Split(':');
        return fields.Length >= 6 && fields[5].StartsWith('/') ? fields[5]
            : throw new InvalidOperationException($"On {shell.HostName}, the home directory of {user} is not known.");
    }

    internal static void ValidatePath(IHostShell shell, string path)
    {
        if (string.IsNullOrEmpty(path) || !path.StartsWith('/') || path.Any(c => c is '\0' or '\n' or '\r'))
            throw new ArgumentException($"'{path}' is not an absolute path usable on {shell.HostName}.", nameof(path));
    }
}
