using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace PgReplication.Core.Tests;

/// <summary>
/// A throwaway OpenSSH server on 127.0.0.1 and a free high port, with its own config, host key and
/// authorized keys in a temporary directory. Needs /usr/sbin/sshd and root (tests tagged Category=Sshd;
/// exclude them with --filter "Category!=Sshd" where there is no sshd). Missing sshd is a failure, never a skip.
/// </summary>
public class SshTestServer : IDisposable
{
    public const string Sshd = "/usr/sbin/sshd";
    private readonly Process? _process;

    public SshTestServer() : this("ed25519") { }

    protected SshTestServer(string hostKeyType)
    {
        Directory = System.IO.Directory.CreateTempSubdirectory("pgrepl-sshd-").FullName;
        File.SetUnixFileMode(Directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute |
            UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        if (!File.Exists(Sshd))
        {
            StartError = $"{Sshd} is not installed: these tests need OpenSSH's server (exclude them with --filter \"Category!=Sshd\").";
            return;
        }
        if (Environment.UserName != "root")
        {
            StartError = "These tests start sshd and log in as root: run them as root (or exclude Category=Sshd).";
            return;
        }

        HostKeyPath = Path.Combine(Directory, "host_" + hostKeyType);
        Keygen("-t", hostKeyType, "-N", "", "-f", HostKeyPath);
        HostKeyFingerprint = Run("ssh-keygen", "-l", "-E", "sha256", "-f", HostKeyPath + ".pub").Split(' ')[1];

        ClientKeys["ed25519"] = MakeClientKey("ed25519", "");
        ClientKeys["rsa"] = MakeClientKey("rsa", "");
        ClientKeys["ecdsa"] = MakeClientKey("ecdsa", "");
        ClientKeys["ed25519-passphrase"] = MakeClientKey("ed25519", Passphrase);
        var authorized = Path.Combine(Directory, "authorized_keys");
        File.WriteAllLines(authorized, ClientKeys.Values.Select(k => File.ReadAllText(k + ".pub").Trim()));

        Port = FreePort();
        var config = Path.Combine(Directory, "sshd_config");
        File.WriteAllText(config, $"""
            Port {Port}
            ListenAddress 127.0.0.1
            HostKey {HostKeyPath}
            PidFile {Path.Combine(Directory, "sshd.pid")}
            AuthorizedKeysFile {authorized}
            StrictModes no
            PasswordAuthentication no
            KbdInteractiveAuthentication no
            UsePAM yes
            PermitRootLogin prohibit-password
            AllowTcpForwarding yes
            LogLevel VERBOSE
            """);
        System.IO.Directory.CreateDirectory("/run/sshd");

        var start = new ProcessStartInfo(Sshd) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in new[] { "-D", "-e", "-f", config }) start.ArgumentList.Add(a);
        _process = Process.Start(start)!;
        _process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (Log) Log.Add(e.Data); };
        _process.BeginErrorReadLine();
        _process.BeginOutputReadLine();

        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (DateTime.UtcNow < deadline && !_process.HasExited)
        {
            try
            {
                using var probe = new TcpClient();
                probe.Connect(IPAddress.Loopback, Port);
                return;
            }
            catch (SocketException) { Thread.Sleep(100); }
        }
        StartError = $"sshd did not start on 127.0.0.1:{Port}: {string.Join(" | ", Log)}";
    }

    public const string Passphrase = "correct horse battery";
    public string Directory { get; }
    public int Port { get; }
    public string? HostKeyPath { get; }
    public string? HostKeyFingerprint { get; }
    public Dictionary<string, string> ClientKeys { get; } = new();
    public List<string> Log { get; } = new();
    public string? StartError { get; }

    /// <summary>Fails the calling test (with the reason) when the server could not be started.</summary>
    public void EnsureRunning() => Assert.True(StartError is null, StartError);

    private string MakeClientKey(string type, string passphrase)
    {
        var path = Path.Combine(Directory, $"client_{type}{(passphrase.Length > 0 ? "_pp" : "")}");
        Keygen("-t", type, "-N", passphrase, "-f", path);
        return path;
    }

    private static void Keygen(params string[] args) => Run("ssh-keygen", new[] { "-q" }.Concat(args).ToArray());

    public static string Run(string program, params string[] args)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) start.ArgumentList.Add(a);
        using var p = Process.Start(start)!;
        var output = p.StandardOutput.ReadToEnd();
        var error = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"{program} {string.Join(' ', args)} failed: {error}");
        return output;
    }

    private static int FreePort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    public void Dispose()
    {
        if (_process is { HasExited: false })
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(5000);
        }
        _process?.Dispose();
        try { System.IO.Directory.Delete(Directory, recursive: true); } catch (IOException) { }
    }
}

/// <summary>The same server with only an RSA host key (as older fleets have): negotiated as rsa-sha2-*, recorded as ssh-rsa.</summary>
public sealed class SshRsaTestServer : SshTestServer
{
    public SshRsaTestServer() : base("rsa") { }
}
