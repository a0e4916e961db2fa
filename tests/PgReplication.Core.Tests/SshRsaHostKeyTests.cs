using PgReplication.Core.Hosts;
using PgReplication.Core.Model;

namespace PgReplication.Core.Tests;

[Trait("Category", "Sshd")]
public sealed class SshRsaHostKeyTests : IClassFixture<SshRsaTestServer>
{
    private readonly SshRsaTestServer _server;
    public SshRsaHostKeyTests(SshRsaTestServer server) { _server = server; _server.EnsureRunning(); }

    [Fact]
    public void AnRsaHostKeyIsUsedWithSha2SignaturesAndRecordedAsSshRsa()
    {
        var path = Path.Combine(_server.Directory, $"kh-{Guid.NewGuid():N}");
        var options = new SshOptions
        {
            User = "root", Port = _server.Port, KeyPath = _server.ClientKeys["ed25519"],
            KnownHostsPath = path, AcceptNewHostKey = true,
        };
        using (var shell = SshShell.Connect("127.0.0.1", options))
        {
            Assert.Equal(_server.HostKeyFingerprint, shell.HostKeyFingerprint);
            Assert.True(shell.Run(new HostCommand("true")).Succeeded);
        }
        var entry = Assert.Single(KnownHosts.Load(path));
        Assert.Equal("ssh-rsa", entry.KeyType);

        options.AcceptNewHostKey = false;
        using var again = SshShell.Connect("127.0.0.1", options);
        Assert.Equal(_server.HostKeyFingerprint, again.HostKeyFingerprint);
    }
}
