namespace PgReplication.Core.Hosts;

/// <summary>A program to run on a host, from an argument list (never from shell text).</summary>
public sealed class HostCommand
{
    public HostCommand(string program, params string[] arguments)
    {
        if (string.IsNullOrWhiteSpace(program)) throw new ArgumentException("A command needs a program.", nameof(program));
        Program = program;
        Arguments = arguments;
    }

    public string Program { get; }
    public IReadOnlyList<string> Arguments { get; init; }
    /// <summary>Run as this OS user (runuser when we are root here, else sudo -n).</summary>
    public string? RunAs { get; init; }
    /// <summary>Bytes fed to the program's standard input: the way secrets travel. Never logged.</summary>
    public byte[]? StandardInput { get; init; }
    /// <summary>Ended (with its process tree) when it runs longer. SSH.NET has no default: we always set one.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(60);
    public string WorkingDirectory { get; init; } = "/";
    /// <summary>Called for each line (split on CR or LF) of standard error as it arrives: progress.</summary>
    public Action<string>? OnErrorLine { get; init; }
    /// <summary>Called for each line of standard output as it arrives.</summary>
    public Action<string>? OnOutputLine { get; init; }

    /// <summary>The program and its arguments, wrapped to run as <see cref="RunAs"/> when that is not <paramref name="currentUser"/>.</summary>
    public IReadOnlyList<string> EffectiveArgv(string currentUser)
    {
        var argv = new List<string>();
        if (RunAs is not null && RunAs != currentUser)
        {
            // runuser needs no password and no sudoers entry when we are root; anyone else uses sudo -n,
            // which fails at once instead of prompting.
            if (currentUser == "root") argv.AddRange(new[] { "runuser", "-u", RunAs, "--" });
            else argv.AddRange(new[] { "sudo", "-n", "-u", RunAs, "--" });
        }
        argv.Add(Program);
        argv.AddRange(Arguments);
        return argv;
    }

    /// <summary>Shell text for logs and SSH; contains no secret since secrets only travel on stdin.</summary>
    public string ToShellText(string currentUser)
    {
        var argv = EffectiveArgv(currentUser);
        var text = ShellQuote.Join(argv[0], argv.Skip(1));
        return WorkingDirectory == "/" ? text : $"cd {ShellQuote.Quote(WorkingDirectory)} && {text}";
    }

    public override string ToString() => ShellQuote.Join(Program, Arguments);
}

/// <summary>What a command did.</summary>
public sealed class CommandResult
{
    public required string Host { get; init; }
    public required string CommandLine { get; init; }
    public int ExitCode { get; init; }
    public string StandardOutput { get; init; } = "";
    public string StandardError { get; init; } = "";
    public bool TimedOut { get; init; }
    /// <summary>The signal that ended it, when it was killed (e.g. "KILL").</summary>
    public string? Signal { get; init; }
    public TimeSpan Duration { get; init; }
    public bool Succeeded => ExitCode == 0 && !TimedOut && Signal is null;

    /// <summary>Throws <see cref="HostCommandException"/> naming the host unless the command succeeded.</summary>
    public CommandResult EnsureSuccess()
    {
        if (!Succeeded) throw new HostCommandException(this);
        return this;
    }

    public string Describe()
    {
        var what = TimedOut ? $"did not finish within its timeout ({Duration.TotalSeconds:0.#} s) and was ended"
            : Signal is not null ? $"was killed by signal {Signal}"
            : $"exited with code {ExitCode}";
        var err = StandardError.Trim();
        return $"On {Host}, '{CommandLine}' {what}" + (err.Length > 0 ? $": {Truncate(err, 2000)}" : ".");
    }

    private static string Truncate(string s, int max) => s.Length <= max ? s : s[..max] + " ...";
}

/// <summary>A command on a host failed, timed out or could not start. The message names the host.</summary>
public sealed class HostCommandException : Exception
{
    public HostCommandException(CommandResult result) : base(result.Describe()) { Result = result; Host = result.Host; }
    /// <summary>A failed command, and what else tells why (<paramref name="detail"/>, after the command's own description).</summary>
    public HostCommandException(CommandResult result, string detail) : base(result.Describe() + "\n" + detail) { Result = result; Host = result.Host; }
    public HostCommandException(string host, string message, Exception? inner = null) : base(message, inner) { Host = host; }
    public string Host { get; }
    public CommandResult? Result { get; }
}
