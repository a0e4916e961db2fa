using System.Security.Cryptography;
using PgReplication.Core.Hosts;

namespace PgReplication.Core.Tests;

public sealed class KnownHostsTests
{
    // Keys and fingerprints made with ssh-keygen (the fingerprints are what ssh-keygen -l printed).
    internal const string Ed25519 = "AAAAC3NzaC1lZDI1NTE5AAAAIKD8Mr9Kywa49mkxYQrto2/j1GCOO2IfPCf5pc3SyPlT";
    internal const string Ed25519Fingerprint = "SHA256:OeGbcqXYiueg8ymR6M1bcDT55b+VFdYxt3EZAl84yII";
    internal const string OtherEd25519 = "AAAAC3NzaC1lZDI1NTE5AAAAIP1jM2isnGXGk3pz82tQd2TDbsl24dN+McHFq38KBf4u";
    internal const string OtherEd25519Fingerprint = "SHA256:SDWNYVjgVnE5OTQeu8zP3dtja6IyczhIVqh7v0dW+7g";
    internal const string Ecdsa = "AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBL7IyHBn+kfDVz7e3LwRM4Mrd40VecZUAtjwM55e7jCSeYFVDyF7e/T1yiqc4q2b3w4Bx/UWhIhFrDtBBOoRJIw=";
    internal const string EcdsaFingerprint = "SHA256:jh6gIrmwKoh3P13X+rGL4nhhF55ENtV8g7pgWNDNMvA";
    // ssh-keygen -H of "[db2.example.net]:2222 ssh-ed25519 <Ed25519>".
    private const string HashedByOpenSsh = "|1|NvdIbnLHQEgq0wD3BgHiUeP1b4M=|Cu3qdCwZryCrk5ZLaSF/iYiaE4U=";

    internal static byte[] Blob(string base64) => Convert.FromBase64String(base64);

    [Theory]
    [InlineData(Ed25519, Ed25519Fingerprint, "ssh-ed25519")]
    [InlineData(Ecdsa, EcdsaFingerprint, "ecdsa-sha2-nistp256")]
    public void FingerprintsAndTypesAreThoseOfSshKeygen(string key, string fingerprint, string type)
    {
        Assert.Equal(fingerprint, KnownHosts.Fingerprint(Blob(key)));
        Assert.Equal(type, KnownHosts.KeyTypeOf(Blob(key)));
    }

    [Theory]
    [InlineData("SHA256:OeGbcqXYiueg8ymR6M1bcDT55b+VFdYxt3EZAl84yII", true)]
    [InlineData("OeGbcqXYiueg8ymR6M1bcDT55b+VFdYxt3EZAl84yII", true)]     // SSH.NET's FingerPrintSHA256 form
    [InlineData("SHA256:OeGbcqXYiueg8ymR6M1bcDT55b+VFdYxt3EZAl84yII=", true)] // padded
    [InlineData("SHA256:oeGbcqXYiueg8ymR6M1bcDT55b+VFdYxt3EZAl84yII", false)] // base64 is case-sensitive
    [InlineData("SHA256:SDWNYVjgVnE5OTQeu8zP3dtja6IyczhIVqh7v0dW+7g", false)]
    public void FingerprintComparison(string given, bool same) =>
        Assert.Equal(same, KnownHosts.SameFingerprint(given, Ed25519Fingerprint));

    [Fact]
    public void ParsesCommentsMarkersAndSkipsJunk()
    {
        var text = string.Join("\n",
            "# a comment",
            "",
            $"db1.example.net,10.0.0.1 ssh-ed25519 {Ed25519} admin@somewhere",
            $"@revoked * ssh-ed25519 {OtherEd25519}",
            $"@cert-authority *.example.net ssh-ed25519 {Ed25519}",
            $"@bogus db1.example.net ssh-ed25519 {Ed25519}",
            "db3.example.net ssh-ed25519 !!!not-base64!!!",
            "only-two fields",
            $"   [db2.example.net]:2222\tecdsa-sha2-nistp256 {Ecdsa}\r");
        var entries = KnownHosts.Parse(text);
        Assert.Equal(4, entries.Count);
        Assert.Equal((3, KnownHostMarker.None, "ssh-ed25519"), (entries[0].LineNumber, entries[0].Marker, entries[0].KeyType));
        Assert.Equal(KnownHostMarker.Revoked, entries[1].Marker);
        Assert.Equal(KnownHostMarker.CertAuthority, entries[2].Marker);
        Assert.Equal(EcdsaFingerprint, entries[3].Fingerprint);
        Assert.Equal(9, entries[3].LineNumber);
    }

    [Theory]
    [InlineData("db1.example.net", "db1.example.net", 22, true)]
    [InlineData("DB1.Example.NET", "db1.example.net", 22, true)]
    [InlineData("db1.example.net", "db1.example.net", 2222, false)]   // another port is another host
    [InlineData("[db1.example.net]:2222", "db1.example.net", 2222, true)]
    [InlineData("[db1.example.net]:2222", "db1.example.net", 22, false)]
    [InlineData("db9.example.net,10.0.0.1", "10.0.0.1", 22, true)]
    [InlineData("*.example.net", "db1.example.net", 22, true)]
    [InlineData("*.example.net,!db1.example.net", "db1.example.net", 22, false)]
    [InlineData("db?.example.net", "db7.example.net", 22, true)]
    [InlineData("db?.example.net", "db10.example.net", 22, false)]
    [InlineData("db1.example.net", "db1.example.net.evil", 22, false)]
    public void HostPatterns(string field, string host, int port, bool matches) =>
        Assert.Equal(matches, KnownHosts.HostMatches(field, host, port));

    [Fact]
    public void HashedNamesMadeByOpenSshMatchOnlyTheirHostAndPort()
    {
        Assert.True(KnownHosts.HostMatches(HashedByOpenSsh, "db2.example.net", 2222));
        Assert.False(KnownHosts.HostMatches(HashedByOpenSsh, "db2.example.net", 22));
        Assert.False(KnownHosts.HostMatches(HashedByOpenSsh, "db3.example.net", 2222));
    }

    [Fact]
    public void HashedNamesAreHmacSha1OfTheNameKeyedWithTheSalt()
    {
        var salt = RandomNumberGenerator.GetBytes(20);
        // Built independently of the code under test: |1|base64(salt)|base64(HMAC-SHA1(salt, name)).
        using var hmac = new HMACSHA1(salt);
        var hash = hmac.ComputeHash(System.Text.Encoding.ASCII.GetBytes("10.1.2.3"));
        var field = $"|1|{Convert.ToBase64String(salt)}|{Convert.ToBase64String(hash)}";

        var entries = KnownHosts.Parse($"{field} ssh-ed25519 {Ed25519}\n");
        Assert.True(entries[0].IsHashed);
        Assert.True(entries[0].Matches("10.1.2.3", 22));
        Assert.False(entries[0].Matches("10.1.2.4", 22));
        Assert.Equal(field, KnownHosts.HashHostName("10.1.2.3", salt));
        Assert.False(KnownHosts.HostMatches("|1|garbage|x", "10.1.2.3", 22));
    }

    [Fact]
    public void AppendCreatesAPrivateFileThatParsesBack()
    {
        var dir = Directory.CreateTempSubdirectory("pgrepl-kh-").FullName;
        try
        {
            var path = Path.Combine(dir, "sub", "known_hosts");
            KnownHosts.Append(path, "db1.example.net", 22, Blob(Ed25519));
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute,
                File.GetUnixFileMode(Path.GetDirectoryName(path)!));

            // A file without a final newline gets one before our line.
            File.AppendAllText(path, $"# hand-edited, no newline");
            KnownHosts.Append(path, "db2.example.net", 2222, Blob(Ecdsa));
            var text = File.ReadAllText(path);
            Assert.Equal($"db1.example.net ssh-ed25519 {Ed25519}\n# hand-edited, no newline\n[db2.example.net]:2222 ecdsa-sha2-nistp256 {Ecdsa}\n", text);
            var entries = KnownHosts.Load(path);
            Assert.True(entries[1].Matches("db2.example.net", 2222));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void AMissingFileHasNoEntries() =>
        Assert.Empty(KnownHosts.Load("/nonexistent/pgrepl/known_hosts"));
}
