using System.Diagnostics;
using System.Text;

namespace PgReplication.Core.Hosts;

/// <summary>Runs programs on this machine from an argument list, optionally as another OS user.</summary>
public sealed class LocalShell : IHostShell
{
    public LocalShell(string hostName = "localhost") => HostName = hostName;

    public string HostName { get; }
    public string CurrentUser { get; } = Environment.UserName;
    public string? HostKeyFingerprint => null;

    public CommandResult Run(HostCommand command)
    {
        var argv = command.EffectiveArgv(CurrentUser);
        var start = new ProcessStartInfo(argv[0])
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = command.WorkingDirectory,
        };
        foreach (var a in argv.Skip(1)) start.ArgumentList.Add(a);
        // A clean environment, as over SSH: nothing of ours (PGPASSWORD, PGHOST, ...) may reach the programs,
        // nor the servers they start. A C locale so that their messages parse the same everywhere.
        start.Environment.Clear();
        start.Environment["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
        start.Environment["LC_ALL"] = "C";

        var text = command.ToShellText(CurrentUser);
        var watch = Stopwatch.StartNew();
        using var process = new Process { StartInfo = start };
        try
        {
            process.Start();
        }
        catch (Exception ex)
        {
            throw new HostCommandException(HostName, $"On {HostName}, '{text}' could not be started: {ex.Message}", ex);
        }

        var stdout = LineReader.Pump(process.StandardOutput, command.OnOutputLine);
        var stderr = LineReader.Pump(process.StandardError, command.OnErrorLine);
        try
        {
            if (command.StandardInput is { } input) process.StandardInput.BaseStream.Write(input);
            process.StandardInput.Close();
        }
        catch (IOException)
        {
            // The program ended without reading its input; its exit code tells the story.
        }

        var finished = process.WaitForExit((int)Math.Min(int.MaxValue, command.Timeout.TotalMilliseconds));
        if (!finished)
        {
            try { process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            process.WaitForExit();
        }
        else
        {
            process.WaitForExit(); // drains the asynchronous readers
        }
        Task.WaitAll(new Task[] { stdout, stderr }, TimeSpan.FromSeconds(10));

        // .NET reports 128+N for a child killed by signal N.
        string? signal = !finished ? "KILL" : process.ExitCode > 128 && process.ExitCode < 160 ? SignalName(process.ExitCode - 128) : null;
        return new CommandResult
        {
            Host = HostName,
            CommandLine = text,
            ExitCode = finished ? process.ExitCode : -1,
            StandardOutput = stdout.IsCompletedSuccessfully ? stdout.Result : "",
            StandardError = stderr.IsCompletedSuccessfully ? stderr.Result : "",
            TimedOut = !finished,
            Signal = finished ? signal : null,
            Duration = watch.Elapsed,
        };
    }

    private static string? SignalName(int n) => n switch
    {
        1 => "HUP", 2 => "INT", 6 => "ABRT", 9 => "KILL", 11 => "SEGV", 13 => "PIPE", 15 => "TERM", _ => null,
    };

    public void Dispose() { }
}

/// <summary>Reads a stream to its end, handing each CR- or LF-terminated line to a callback as it arrives.</summary>
internal static class LineReader
{
    public static Task<string> Pump(TextReader reader, Action<string>? onLine) => Task.Run(() =>
    {
        var all = new StringBuilder();
        var line = new StringBuilder();
        var buffer = new char[4096];
        int n;
        while ((n = reader.Read(buffer, 0, buffer.Length)) > 0)
        {
            all.Append(buffer, 0, n);
            if (onLine is null) continue;
            for (var i = 0; i < n; i++)
            {
                var c = buffer[i];
                if (c is '\r' or '\n')
                {
                    if (line.Length > 0) onLine(line.ToString());
                    line.Clear();
                }
                else line.Append(c);
            }
        }
        if (onLine is not null && line.Length > 0) onLine(line.ToString());
        return all.ToString();
    });
}
