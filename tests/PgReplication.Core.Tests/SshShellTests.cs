using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using PgReplication.Core.Hosts;
using PgReplication.Core.Model;

namespace PgReplication.Core.Tests;

/// <summary>SshShell against a real sshd on 127.0.0.1 (see <see cref="SshTestServer"/>).</summary>
[Trait("Category", "Sshd")]
public sealed class SshShellTests : IClassFixture<SshTestServer>
{
    private readonly SshTestServer _server;
    public SshShellTests(SshTestServer server) { _server = server; _server.EnsureRunning(); }

    private SshOptions Options(string key = "ed25519", string user = "root") => new()
    {
        User = user,
        Port = _server.Port,
        KeyPath = _server.ClientKeys[key],
        HostKeyFingerprint = _server.HostKeyFingerprint,
        ConnectTimeout = TimeSpan.FromSeconds(10),
    };

    [Theory]
    [InlineData("ed25519")]
    [InlineData("rsa")]
    [InlineData("ecdsa")]
    public void LogsInWithEachKeyTypeAndRunsACommand(string key)
    {
        using var shell = SshShell.Connect("127.0.0.1", Options(key));
        var r = shell.Run(new HostCommand("id", "-un"));
        Assert.True(r.Succeeded, r.Describe());
        Assert.Equal("root", r.StandardOutput.Trim());
        Assert.Equal(_server.HostKeyFingerprint, shell.HostKeyFingerprint);
    }

    [Fact]
    public void AnEncryptedKeyNeedsItsPassphrase()
    {
        var options = Options("ed25519-passphrase");
        var ex = Assert.Throws<HostCommandException>(() => SshShell.Connect("127.0.0.1", options));
        Assert.Contains("passphrase", ex.Message);
        options.Credential = new NetworkCredential("", SshTestServer.Passphrase);
        using var shell = SshShell.Connect("127.0.0.1", options);
        Assert.True(shell.Run(new HostCommand("true")).Succeeded);
    }

    [Fact]
    public void ArgumentsArriveUnchangedAndStdinReachesTheProgram()
    {
        using var shell = SshShell.Connect("127.0.0.1", Options());
        var odd = "it's a \"test\" $HOME `id` ; rm -rf / \\ ünïcode";
        var echo = shell.Run(new HostCommand("printf", "%s", odd));
        Assert.Equal(odd, echo.StandardOutput);

        var input = Encoding.UTF8.GetBytes("secret on stdin\nsecond line\n");
        var cat = shell.Run(new HostCommand("cat") { StandardInput = input });
        Assert.Equal("secret on stdin\nsecond line\n", cat.StandardOutput);
        Assert.DoesNotContain("secret", cat.CommandLine);

        // A program that reads stdin gets EOF at once when there is none.
        var none = shell.Run(new HostCommand("cat") { Timeout = TimeSpan.FromSeconds(10) });
        Assert.True(none.Succeeded, none.Describe());
    }

    [Fact]
    public void ANonZeroExitIsReportedWithItsStderr()
    {
        using var shell = SshShell.Connect("127.0.0.1", Options());
        var r = shell.Run(new HostCommand("sh", "-c", "echo out; echo 'it broke' >&2; exit 3"));
        Assert.Equal(3, r.ExitCode);
        Assert.Equal("out\n", r.StandardOutput);
        Assert.Equal("it broke\n", r.StandardError);
        var ex = Assert.Throws<HostCommandException>(() => r.EnsureSuccess());
        Assert.Contains("127.0.0.1", ex.Message);
        Assert.Contains("exited with code 3", ex.Message);
        Assert.Contains("it broke", ex.Message);
    }

    [Fact]
    public void ACommandThatOutlivesItsTimeoutIsEndedOnTheHost()
    {
        using var shell = SshShell.Connect("127.0.0.1", Options());
        var marker = $"pgrepl-timeout-{Guid.NewGuid():N}";
        var watch = Stopwatch.StartNew();
        // The shell carries the marker in its arguments so we can look for it afterwards.
        var r = shell.Run(new HostCommand("sh", "-c", "sleep 300; : \"$1\"", "sh", marker) { Timeout = TimeSpan.FromSeconds(2) });
        Assert.True(r.TimedOut, r.Describe());
        Assert.False(r.Succeeded);
        Assert.InRange(watch.Elapsed.TotalSeconds, 1.5, 10);
        Assert.Contains("did not finish within its timeout", r.Describe());
        Thread.Sleep(500);
        var ps = shell.Run(new HostCommand("pgrep", "-f", NotSelf(marker)));
        Assert.Equal(1, ps.ExitCode); // no such process left
    }

    [Fact]
    public void AProgramThatIgnoresTermIsStillEnded()
    {
        using var shell = SshShell.Connect("127.0.0.1", Options());
        var marker = $"pgrepl-stubborn-{Guid.NewGuid():N}";
        var watch = Stopwatch.StartNew();
        var r = shell.Run(new HostCommand("sh", "-c", "trap '' TERM; while :; do sleep 1; done; : \"$1\"", "sh", marker)
            { Timeout = TimeSpan.FromSeconds(2) });
        Assert.True(r.TimedOut, r.Describe());
        Assert.InRange(watch.Elapsed.TotalSeconds, 1.5, 15);
        Thread.Sleep(6000);
        var ps = shell.Run(new HostCommand("pgrep", "-f", NotSelf(marker)));
        Assert.Equal(1, ps.ExitCode);
    }

    // A pattern that matches the marker but not the pgrep command line that carries it.
    private static string NotSelf(string marker) => "[" + marker[0] + "]" + marker[1..];

    [Fact]
    public void AKilledProgramReportsItsSignal()
    {
        using var shell = SshShell.Connect("127.0.0.1", Options());
        var r = shell.Run(new HostCommand("sh", "-c", "kill -KILL $$"));
        Assert.False(r.Succeeded);
        Assert.False(r.TimedOut);
        Assert.Equal("KILL", r.Signal);
    }

    [Fact]
    public void LinesArriveAsTheyAreWritten()
    {
        using var shell = SshShell.Connect("127.0.0.1", Options());
        var lines = new List<(string Line, TimeSpan At)>();
        var watch = Stopwatch.StartNew();
        var r = shell.Run(new HostCommand("sh", "-c", "printf 'one\\r' >&2; sleep 1; echo two >&2; sleep 1; echo done")
        {
            OnErrorLine = l => { lock (lines) lines.Add((l, watch.Elapsed)); },
        });
        Assert.True(r.Succeeded, r.Describe());
        Assert.Equal(new[] { "one", "two" }, lines.Select(l => l.Line));
        // Relative, not absolute (the machine may be busy): written a second apart, they must not arrive together.
        Assert.True(lines[1].At - lines[0].At > TimeSpan.FromSeconds(0.5), $"the lines came at {lines[0].At} and {lines[1].At}: held back, not as they were written");
    }

    [Fact]
    public void RunAsUsesRunuserWhenLoggedInAsRoot()
    {
        using var shell = SshShell.Connect("127.0.0.1", Options());
        var r = shell.Run(new HostCommand("id", "-un") { RunAs = "postgres" });
        Assert.True(r.Succeeded, r.Describe());
        Assert.Equal("postgres", r.StandardOutput.Trim());
    }

    [Fact]
    public void HostFilesWriteAndReadOverSsh()
    {
        using var shell = SshShell.Connect("127.0.0.1", Options());
        var dir = shell.Run(new HostCommand("mktemp", "-d")).EnsureSuccess().StandardOutput.Trim();
        try
        {
            var path = dir + "/a file with spaces.conf";
            HostFiles.Write(shell, path, Encoding.UTF8.GetBytes("x = 'y'\n"), "0600", "root");
            Assert.Equal("x = 'y'\n", HostFiles.ReadText(shell, path, "root"));
            Assert.True(HostFiles.Exists(shell, path, "root"));
            Assert.Equal("600", shell.Run(new HostCommand("stat", "-c", "%a", path)).StandardOutput.Trim());
        }
        finally { shell.Run(new HostCommand("rm", "-rf", "--", dir)); }
    }

    [Fact]
    public void WorkingDirectoryIsHonoured()
    {
        using var shell = SshShell.Connect("127.0.0.1", Options());
        var r = shell.Run(new HostCommand("pwd") { WorkingDirectory = "/tmp" });
        Assert.Equal("/tmp", r.StandardOutput.Trim());
    }

    [Fact]
    public void AnUnknownHostKeyIsRefusedWithItsFingerprint()
    {
        var options = Options();
        options.HostKeyFingerprint = null;
        options.KnownHostsPath = Path.Combine(_server.Directory, $"kh-{Guid.NewGuid():N}");
        var ex = Assert.Throws<SshHostKeyException>(() => SshShell.Connect("127.0.0.1", options));
        Assert.Equal(HostKeyVerdict.RefuseUnknown, ex.Verdict);
        Assert.Contains(_server.HostKeyFingerprint!, ex.Message);
        Assert.Contains($"[127.0.0.1]:{_server.Port}", ex.Message);
        Assert.False(File.Exists(options.KnownHostsPath));
    }

    [Fact]
    public void AcceptNewHostKeyRecordsItAndTheNextConnectionKnowsIt()
    {
        var options = Options();
        options.HostKeyFingerprint = null;
        options.AcceptNewHostKey = true;
        options.KnownHostsPath = Path.Combine(_server.Directory, $"kh-{Guid.NewGuid():N}", "known_hosts");
        using (SshShell.Connect("127.0.0.1", options)) { }
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(options.KnownHostsPath));
        var entries = KnownHosts.Load(options.KnownHostsPath);
        Assert.Single(entries);
        Assert.Equal(_server.HostKeyFingerprint, entries[0].Fingerprint);

        // ssh itself agrees with what we wrote.
        var found = SshTestServer.Run("ssh-keygen", "-F", $"[127.0.0.1]:{_server.Port}", "-f", options.KnownHostsPath);
        Assert.Contains("ssh-ed25519", found);

        options.AcceptNewHostKey = false;
        using var again = SshShell.Connect("127.0.0.1", options);
        Assert.True(again.Run(new HostCommand("true")).Succeeded);
        Assert.Single(KnownHosts.Load(options.KnownHostsPath));
    }

    [Fact]
    public void AChangedHostKeyIsRefusedEvenWithAcceptNew()
    {
        var options = Options();
        var other = "SHA256:" + Convert.ToBase64String(new byte[32]).TrimEnd('=');
        options.HostKeyFingerprint = other;
        options.AcceptNewHostKey = true;
        var ex = Assert.Throws<SshHostKeyException>(() => SshShell.Connect("127.0.0.1", options));
        Assert.True(ex.IsChanged);
        Assert.Contains(other, ex.Message);
        Assert.Contains(_server.HostKeyFingerprint!, ex.Message);
        Assert.Contains("127.0.0.1", ex.Message);
    }

    [Fact]
    public void ATunnelReachesALoopbackServiceOnTheHost()
    {
        // A one-shot TCP echo service standing in for PostgreSQL on the host's loopback.
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var served = Task.Run(() =>
        {
            using var c = listener.AcceptTcpClient();
            var s = c.GetStream();
            var buffer = new byte[5];
            var n = 0;
            while (n < 5) n += s.Read(buffer, n, 5 - n);
            s.Write(buffer);
        });
        try
        {
            using var shell = SshShell.Connect("127.0.0.1", Options());
            var endpoint = shell.ForwardPostgres(port);
            Assert.Equal("127.0.0.1", endpoint.Host);
            Assert.NotEqual(port, endpoint.Port);
            Assert.Same(endpoint, shell.ForwardPostgres(port));
            using var client = new TcpClient();
            client.Connect(endpoint.Host, endpoint.Port);
            var stream = client.GetStream();
            stream.Write("hello"u8);
            var back = new byte[5];
            var got = 0;
            while (got < 5) got += stream.Read(back, got, 5 - got);
            Assert.Equal("hello", Encoding.ASCII.GetString(back));
            Assert.True(served.Wait(5000));
        }
        finally { listener.Stop(); }
    }

    [Fact]
    public void AHostThatDoesNotAnswerFailsWithinTheConnectTimeout()
    {
        // A listener that accepts TCP but never speaks SSH.
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        try
        {
            var options = Options();
            options.Port = ((IPEndPoint)listener.LocalEndpoint).Port;
            options.ConnectTimeout = TimeSpan.FromSeconds(2);
            var watch = Stopwatch.StartNew();
            var ex = Assert.Throws<HostCommandException>(() => SshShell.Connect("127.0.0.1", options));
            Assert.InRange(watch.Elapsed.TotalSeconds, 0, 8);
            Assert.Contains("127.0.0.1", ex.Message);
        }
        finally { listener.Stop(); }
    }

    [Fact]
    public void AWrongKeyIsALoginFailureNamingTheHost()
    {
        var stranger = Path.Combine(_server.Directory, $"stranger-{Guid.NewGuid():N}");
        SshTestServer.Run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", stranger);
        var options = Options();
        options.KeyPath = stranger;
        var ex = Assert.Throws<HostCommandException>(() => SshShell.Connect("127.0.0.1", options));
        Assert.Contains("root@", ex.Message);
        Assert.Contains(stranger, ex.Message);
        Assert.Contains("127.0.0.1", ex.Message);
    }
}
