using PgReplication.Core.Hosts;
using Renci.SshNet;

namespace PgReplication.Core.Tests;

public sealed class SshAlgorithmsTests
{
    private static ConnectionInfo Info()
    {
        var info = new ConnectionInfo("db1.example.net", 22, "postgres", new PasswordAuthenticationMethod("postgres", "x"));
        SshAlgorithms.RemoveWeak(info);
        return info;
    }

    [Theory]
    [InlineData("diffie-hellman-group1-sha1")]
    [InlineData("diffie-hellman-group14-sha1")]
    [InlineData("diffie-hellman-group-exchange-sha1")]
    public void WeakKeyExchangesAreGone(string name) => Assert.DoesNotContain(name, Info().KeyExchangeAlgorithms.Keys);

    [Theory]
    [InlineData("3des-cbc")]
    [InlineData("aes128-cbc")]
    public void WeakCiphersAreGone(string name) => Assert.DoesNotContain(name, Info().Encryptions.Keys);

    [Theory]
    [InlineData("hmac-sha1")]
    [InlineData("hmac-md5")]
    [InlineData("hmac-sha1-etm@openssh.com")]
    public void WeakMacsAreGone(string name) => Assert.DoesNotContain(name, Info().HmacAlgorithms.Keys);

    [Theory]
    [InlineData("ssh-dss")]
    [InlineData("ssh-rsa")]
    public void WeakHostKeyAlgorithmsAreGone(string name) => Assert.DoesNotContain(name, Info().HostKeyAlgorithms.Keys);

    [Fact]
    public void StrongOnesRemain()
    {
        var info = Info();
        Assert.Contains("curve25519-sha256", info.KeyExchangeAlgorithms.Keys);
        Assert.Contains("aes256-ctr", info.Encryptions.Keys);
        Assert.Contains("hmac-sha2-256", info.HmacAlgorithms.Keys);
        Assert.Contains("ssh-ed25519", info.HostKeyAlgorithms.Keys);
        Assert.Contains("rsa-sha2-512", info.HostKeyAlgorithms.Keys);
        Assert.Contains("ecdsa-sha2-nistp256", info.HostKeyAlgorithms.Keys);
        Assert.All(info.KeyExchangeAlgorithms.Keys, k => Assert.False(SshAlgorithms.IsWeakKeyExchange(k)));
    }
}
