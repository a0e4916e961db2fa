using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using PgReplication.Core.Model;
using Renci.SshNet;
using Renci.SshNet.Common;

namespace PgReplication.Core.Hosts;

/// <summary>
/// Runs programs on a node's host over one SSH connection (SSH.NET), opened once per cmdlet
/// and reused for all its steps. The host key is checked before anything is sent (pinned
/// fingerprint or known_hosts, see <see cref="HostKeyPolicy"/>); every command has a timeout
/// that also ends the remote process; tunnels for PostgreSQL close with the shell.
/// </summary>
public sealed class SshShell : IHostShell
{
    // After a command's own timeout: how long the host gets to report the end of a process that
    // the remote 'timeout' has signalled, before we signal it over SSH and close the channel.
    private static readonly TimeSpan EndGrace = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan DisconnectTimeout = TimeSpan.FromSeconds(5);
    // How often a running command checks that the host still answers.
    private static readonly TimeSpan LivenessInterval = TimeSpan.FromSeconds(15);

    private readonly SshClient _client;
    private readonly IOperationLog _log;
    private readonly Dictionary<int, SshTunnel> _tunnels = new();
    private bool _disposed;
    // Who holds this connection: the cmdlet that opened it, and one that borrowed it down the pipeline (HostShells.Lend).
    private int _holders = 1;
    // Set once the host stopped answering: later commands fail at once instead of each waiting for a channel.
    private volatile bool _lost;

    private SshShell(SshClient client, string hostName, SshOptions options, string fingerprint, IOperationLog log)
    {
        _client = client; HostName = hostName; Options = options; HostKeyFingerprint = fingerprint; _log = log;
    }

    public string HostName { get; }
    /// <summary>The SSH user: commands run as this user unless a command asks for another (sudo -n / runuser).</summary>
    public string CurrentUser => Options.User;
    public SshOptions Options { get; }
    /// <summary>The host key the host presented and we accepted ("SHA256:...").</summary>
    public string HostKeyFingerprint { get; }

    /// <summary>
    /// Connects and authenticates. Throws <see cref="SshHostKeyException"/> when the host key is refused,
    /// <see cref="HostCommandException"/> (naming the host) when the host cannot be reached or refuses the login.
    /// </summary>
    public static SshShell Connect(string host, SshOptions options, IOperationLog? log = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(host);
        ArgumentNullException.ThrowIfNull(options);
        log ??= NullOperationLog.Instance;
        var where = $"{options.User}@{KnownHosts.HostKeyName(host, options.Port)}";

        var (methods, keyFiles) = AuthenticationMethods(host, options);
        var info = new ConnectionInfo(host, options.Port, options.User, methods)
        {
            Timeout = options.ConnectTimeout,
            ChannelCloseTimeout = TimeSpan.FromSeconds(2),
        };
        SshAlgorithms.RemoveWeak(info);

        var knownHostsPath = options.KnownHostsPath ?? KnownHosts.DefaultPath;
        var client = new SshClient(info) { KeepAliveInterval = TimeSpan.FromSeconds(15) };
        HostKeyDecision? decision = null;
        Exception? recordFailure = null;
        client.HostKeyReceived += (_, e) =>
        {
            try
            {
                // Read at every connection: another process may have recorded or revoked a key meanwhile.
                var known = KnownHosts.Load(knownHostsPath);
                decision = HostKeyPolicy.Decide(host, options.Port, e.HostKey, options.HostKeyFingerprint, known,
                    options.AcceptNewHostKey, knownHostsPath);
                if (decision.Verdict == HostKeyVerdict.AcceptAndRecord)
                {
                    KnownHosts.Append(knownHostsPath, host, options.Port, e.HostKey);
                    log.Warning($"Recorded the new SSH host key of {KnownHosts.HostKeyName(host, options.Port)} ({decision.Presented}) in {knownHostsPath}.");
                }
                e.CanTrust = decision.Accepted;
            }
            catch (Exception ex)
            {
                recordFailure = ex;
                e.CanTrust = false;
            }
        };

        log.Verbose($"Connecting over SSH to {where}.");
        try
        {
            client.Connect();
        }
        catch (Exception ex)
        {
            client.Dispose();
            foreach (var k in keyFiles) k.Dispose();
            if (decision is { Accepted: false }) throw HostKeyPolicy.Refusal(host, options.Port, decision);
            if (recordFailure is not null)
                throw new HostCommandException(host, $"Could not check the SSH host key of {host} against {knownHostsPath}: {recordFailure.Message}", recordFailure);
            throw ex switch
            {
                SshAuthenticationException => new HostCommandException(host,
                    $"SSH login to {where} was refused ({Describe(options)}): {ex.Message}", ex),
                SshOperationTimeoutException or TimeoutException => new HostCommandException(host,
                    $"Could not connect over SSH to {where}: no answer within {options.ConnectTimeout.TotalSeconds:0.#} s.", ex),
                _ => new HostCommandException(host, $"Could not connect over SSH to {where}: {ex.Message}", ex),
            };
        }
        log.Verbose($"Connected to {where}, host key {decision!.Presented} ({decision.Verdict}).");
        return new SshShell(client, host, options, decision.Presented, log);
    }

    private static string Describe(SshOptions options) =>
        options.KeyPath is not null ? $"key {options.KeyPath}" : options.Credential is not null ? "password" : "default keys";

    private static (AuthenticationMethod[] Methods, List<PrivateKeyFile> Keys) AuthenticationMethods(string host, SshOptions options)
    {
        var keys = new List<PrivateKeyFile>();
        if (options.KeyPath is not null)
        {
            keys.Add(LoadKey(host, options.KeyPath, options.Credential?.Password));
            return (new AuthenticationMethod[] { new PrivateKeyAuthenticationMethod(options.User, keys.ToArray()) }, keys);
        }
        if (options.Credential is not null && !string.IsNullOrEmpty(options.Credential.Password))
            return (new AuthenticationMethod[] { new PasswordAuthenticationMethod(options.User, options.Credential.Password) }, keys);

        // Neither given: the user's own default keys, as ssh would try them (unencrypted ones only).
        var sshDir = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".ssh");
        foreach (var name in new[] { "id_ed25519", "id_ecdsa", "id_rsa" })
        {
            var path = Path.Combine(sshDir, name);
            if (!File.Exists(path)) continue;
            try { keys.Add(new PrivateKeyFile(path)); } catch (Exception) { /* encrypted or unreadable: skip */ }
        }
        if (keys.Count == 0)
            throw new HostCommandException(host,
                $"No way to log in over SSH to {host}: give -SshKeyPath or -SshCredential (no usable key in {sshDir}).");
        return (new AuthenticationMethod[] { new PrivateKeyAuthenticationMethod(options.User, keys.ToArray()) }, keys);
    }

    private static PrivateKeyFile LoadKey(string host, string path, string? passphrase)
    {
        if (!File.Exists(path))
            throw new HostCommandException(host, $"The SSH key file '{path}' for {host} does not exist.");
        try
        {
            return string.IsNullOrEmpty(passphrase) ? new PrivateKeyFile(path) : new PrivateKeyFile(path, passphrase);
        }
        catch (SshPassPhraseNullOrEmptyException ex)
        {
            throw new HostCommandException(host, $"The SSH key file '{path}' for {host} is encrypted: give its passphrase with -SshCredential.", ex);
        }
        catch (Exception ex) when (ex is SshException or InvalidOperationException or ArgumentException or FormatException or System.Security.Cryptography.CryptographicException)
        {
            throw new HostCommandException(host, $"The SSH key file '{path}' for {host} could not be read (wrong passphrase or not an OpenSSH/PEM private key): {ex.Message}", ex);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new HostCommandException(host, $"The SSH key file '{path}' for {host} could not be read: {ex.Message}", ex);
        }
    }

    public CommandResult Run(HostCommand command)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var display = command.ToShellText(CurrentUser);
        if (_lost)
            throw new HostCommandException(HostName, $"On {HostName}, '{display}' was not run: the SSH connection had stopped answering.");
        // The remote 'timeout' ends the program on the host even when this connection is gone; it runs
        // inside sudo/runuser so it may signal the program as the user that runs it. env sets the C locale
        // there (sudo resets the environment) so messages parse the same everywhere.
        var seconds = Math.Max(1, (long)Math.Ceiling(command.Timeout.TotalSeconds));
        var remote = new HostCommand("env", new[] { "LC_ALL=C", "timeout", "-k", "5",
                seconds.ToString(System.Globalization.CultureInfo.InvariantCulture), command.Program }
            .Concat(command.Arguments).ToArray())
        {
            RunAs = command.RunAs,
            WorkingDirectory = command.WorkingDirectory,
        };
        // SSH.NET sends no EOF for an input stream nothing was written to: a command without input reads /dev/null.
        var text = remote.ToShellText(CurrentUser) + (command.StandardInput is { Length: > 0 } ? "" : " </dev/null");
        _log.Debug($"On {HostName} over SSH: {display}");

        var ssh = _client.CreateCommand(text, Encoding.UTF8);
        var clientEnded = false;
        try
        {
            return Execute(command, ssh, display, out clientEnded);
        }
        finally
        {
            // Closing a channel the host no longer answers waits for ChannelCloseTimeout: not on the caller's time.
            if (clientEnded) _ = Task.Run(ssh.Dispose);
            else ssh.Dispose();
        }
    }

    private CommandResult Execute(HostCommand command, SshCommand ssh, string display, out bool clientEnded)
    {
        clientEnded = false;
        var watch = Stopwatch.StartNew();
        Task execution;
        try
        {
            execution = ssh.ExecuteAsync(CancellationToken.None);
        }
        catch (Exception ex) when (ex is SshException or SocketException or InvalidOperationException or ObjectDisposedException)
        {
            throw new HostCommandException(HostName, $"On {HostName}, '{display}' could not be started over SSH: {ex.Message}", ex);
        }

        var stdout = LineReader.Pump(new StreamReader(ssh.OutputStream, Encoding.UTF8), command.OnOutputLine);
        var stderr = LineReader.Pump(new StreamReader(ssh.ExtendedOutputStream, Encoding.UTF8), command.OnErrorLine);
        if (command.StandardInput is { Length: > 0 } bytes)
        {
            try
            {
                // Closing the input stream sends EOF, so the program does not wait for more.
                using var input = ssh.CreateInputStream();
                input.Write(bytes);
            }
            catch (Exception ex) when (ex is SshException or IOException or ObjectDisposedException or InvalidOperationException)
            {
                // The program ended (or the connection broke) before reading its input; the outcome below tells.
            }
        }

        // We time commands ourselves rather than through SshCommand.CommandTimeout, which only stops waiting:
        // the remote 'timeout' ends the program, and this wait only covers a host that stopped answering.
        // A long command also checks now and then that the host still answers, so a host cut off in the
        // middle of an hour-long base backup is an error in seconds, not at the end of the hour.
        var deadline = command.Timeout + EndGrace;
        var finished = false;
        var lost = false;
        while (!finished && !lost)
        {
            var left = deadline - watch.Elapsed;
            if (left <= TimeSpan.Zero) break;
            var slice = left < LivenessInterval ? left : LivenessInterval;
            finished = Wait(execution, slice);
            // Only between full intervals: a wait may end a few milliseconds early, and a probe then
            // would add the connect timeout to a command that is simply at its deadline.
            if (!finished && slice == LivenessInterval && deadline - watch.Elapsed > TimeSpan.FromSeconds(1))
                lost = !HostAnswers();
        }
        if (!finished)
        {
            // The host did not report the end in time (a program ignoring TERM, or the host cut off).
            // The remote 'timeout' KILLs it 5 s after its TERM; here we ask sshd for a KILL too (OpenSSH
            // honours it only for some logins) and stop waiting for the channel.
            clientEnded = true;
            try { ssh.CancelAsync(forceKill: true, millisecondsTimeout: 500); } catch (Exception) { }
            Wait(execution, TimeSpan.FromMilliseconds(500));
        }
        if (lost)
        {
            _lost = true;
            throw new HostCommandException(HostName,
                $"On {HostName}, the SSH connection stopped answering during '{display}' (after {watch.Elapsed.TotalSeconds:0} s); " +
                $"the host ends the program itself at its timeout ({command.Timeout.TotalSeconds:0.#} s).");
        }
        var failure = execution.IsFaulted ? execution.Exception?.GetBaseException() : null;
        Task.WaitAll(new Task[] { stdout, stderr }, TimeSpan.FromSeconds(clientEnded ? 0.5 : 10));
        var elapsed = watch.Elapsed;

        if (failure is not null && !clientEnded)
        {
            if (failure is SshConnectionException or SocketException) _lost = true;
            throw new HostCommandException(HostName, failure is SshConnectionException or SocketException
                ? $"On {HostName}, the SSH connection broke during '{display}': {failure.Message}"
                : $"On {HostName}, '{display}' failed over SSH: {failure.Message}", failure);
        }

        // 'timeout' exits 124 after its TERM and 137 after its KILL.
        var exit = ssh.ExitStatus;
        var remoteTimedOut = exit is 124 or 137 && elapsed >= command.Timeout - TimeSpan.FromMilliseconds(500);
        var timedOut = clientEnded || remoteTimedOut;
        var signal = timedOut ? null : ssh.ExitSignal ?? (exit is > 128 and < 160 ? SignalName(exit.Value - 128) : null);
        return new CommandResult
        {
            Host = HostName,
            CommandLine = display,
            ExitCode = timedOut ? -1 : exit ?? -1,
            StandardOutput = stdout.IsCompletedSuccessfully ? stdout.Result : "",
            StandardError = stderr.IsCompletedSuccessfully ? stderr.Result : "",
            TimedOut = timedOut,
            Signal = signal,
            Duration = elapsed,
        };
    }

    /// <summary>
    /// True when the host answers a trivial command within the connect timeout. A refusal is an answer too
    /// (e.g. sshd's MaxSessions reached): only silence or a broken connection count as gone.
    /// </summary>
    private bool HostAnswers()
    {
        try
        {
            using var probe = _client.CreateCommand("true");
            var run = probe.ExecuteAsync(CancellationToken.None);
            Wait(run, Options.ConnectTimeout);
            return run.IsCompleted;
        }
        catch (Exception ex) when (ex is SshOperationTimeoutException or SshConnectionException or SocketException or ObjectDisposedException)
        {
            return false;
        }
        catch (SshException)
        {
            return true;
        }
    }

    private static bool Wait(Task task, TimeSpan timeout)
    {
        try { return task.Wait(timeout); }
        catch (AggregateException) { return true; }
    }

    private static string? SignalName(int n) => n switch
    {
        1 => "HUP", 2 => "INT", 6 => "ABRT", 9 => "KILL", 11 => "SEGV", 13 => "PIPE", 15 => "TERM", _ => null,
    };

    /// <summary>
    /// An endpoint here that reaches 127.0.0.1:<paramref name="port"/> on the host through this connection
    /// (pass it to PgSession.Open as via:). Opened once per port; closed with the shell.
    /// </summary>
    public PgEndpoint ForwardPostgres(int port)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        lock (_tunnels)
        {
            if (!_tunnels.TryGetValue(port, out var tunnel))
            {
                tunnel = new SshTunnel(_client, HostName, port);
                _tunnels[port] = tunnel;
                _log.Verbose($"SSH tunnel {tunnel.Endpoint.Host}:{tunnel.Endpoint.Port} -> {HostName}:127.0.0.1:{port}.");
            }
            return tunnel.Endpoint;
        }
    }

    /// <summary>Takes one more hold on a connection that still answers; its Dispose then gives the hold back.</summary>
    internal bool TryHold()
    {
        lock (_tunnels)
        {
            if (_disposed || _lost || !_client.IsConnected) return false;
            _holders++;
            return true;
        }
    }

    public void Dispose()
    {
        lock (_tunnels)
        {
            if (_disposed || --_holders > 0) return;
            _disposed = true;
            foreach (var t in _tunnels.Values) t.Dispose();
            _tunnels.Clear();
        }
        // Disconnect politely, but never hang on a host that stopped answering.
        var disconnect = Task.Run(() => { try { _client.Disconnect(); } catch (Exception) { } });
        disconnect.Wait(DisconnectTimeout);
        _client.Dispose();
    }
}
