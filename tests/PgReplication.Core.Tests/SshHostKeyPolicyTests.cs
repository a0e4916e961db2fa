using PgReplication.Core.Hosts;
using static PgReplication.Core.Tests.KnownHostsTests;

namespace PgReplication.Core.Tests;

/// <summary>The accept / refuse / changed decision table, without a network.</summary>
public sealed class SshHostKeyPolicyTests
{
    private static IReadOnlyList<KnownHostEntry> Known(params string[] lines) => KnownHosts.Parse(string.Join("\n", lines));

    private static HostKeyDecision Decide(string? pin = null, bool acceptNew = false, IReadOnlyList<KnownHostEntry>? known = null,
        string presented = Ed25519, string host = "db1.example.net", int port = 22) =>
        HostKeyPolicy.Decide(host, port, Blob(presented), pin, known ?? Array.Empty<KnownHostEntry>(), acceptNew, "/x/known_hosts");

    [Fact] public void PinnedAndEqualIsAccepted() =>
        Assert.Equal(HostKeyVerdict.AcceptPinned, Decide(pin: Ed25519Fingerprint).Verdict);

    [Fact] public void PinnedWithoutPrefixIsAccepted() =>
        Assert.Equal(HostKeyVerdict.AcceptPinned, Decide(pin: Ed25519Fingerprint["SHA256:".Length..]).Verdict);

    [Fact]
    public void PinnedAndDifferentIsChangedEvenWithAcceptNew()
    {
        var d = Decide(pin: OtherEd25519Fingerprint, acceptNew: true);
        Assert.Equal(HostKeyVerdict.RefuseChanged, d.Verdict);
        Assert.Equal(Ed25519Fingerprint, d.Presented);
        Assert.Equal(OtherEd25519Fingerprint, d.Expected);
    }

    [Fact] public void KnownKeyIsAccepted() =>
        Assert.Equal(HostKeyVerdict.AcceptKnown, Decide(known: Known($"db1.example.net ssh-ed25519 {Ed25519}")).Verdict);

    [Fact] public void KnownOnAnotherPortIsUnknown() =>
        Assert.Equal(HostKeyVerdict.RefuseUnknown, Decide(port: 2222, known: Known($"db1.example.net ssh-ed25519 {Ed25519}")).Verdict);

    [Fact] public void KnownUnderBracketedPortIsAccepted() =>
        Assert.Equal(HostKeyVerdict.AcceptKnown, Decide(port: 2222, known: Known($"[db1.example.net]:2222 ssh-ed25519 {Ed25519}")).Verdict);

    [Fact]
    public void AnotherKeyOfTheSameTypeIsChangedEvenWithAcceptNew()
    {
        var d = Decide(acceptNew: true, known: Known("# first line", $"db1.example.net ssh-ed25519 {OtherEd25519}"));
        Assert.Equal(HostKeyVerdict.RefuseChanged, d.Verdict);
        Assert.Equal(OtherEd25519Fingerprint, d.Expected);
        Assert.Contains("/x/known_hosts line 2", d.Source);
    }

    [Fact]
    public void OnlyAKeyOfAnotherTypeIsUnknown()
    {
        var known = Known($"db1.example.net ecdsa-sha2-nistp256 {Ecdsa}");
        Assert.Equal(HostKeyVerdict.RefuseUnknown, Decide(known: known).Verdict);
        Assert.Equal(HostKeyVerdict.AcceptAndRecord, Decide(acceptNew: true, known: known).Verdict);
    }

    [Fact] public void UnknownIsRefused() => Assert.Equal(HostKeyVerdict.RefuseUnknown, Decide().Verdict);

    [Fact] public void UnknownWithAcceptNewIsRecorded() => Assert.Equal(HostKeyVerdict.AcceptAndRecord, Decide(acceptNew: true).Verdict);

    [Fact]
    public void ARevokedKeyIsRefusedWhateverElseSaysYes()
    {
        var known = Known($"db1.example.net ssh-ed25519 {Ed25519}", $"@revoked otherhost ssh-ed25519 {Ed25519}");
        Assert.Equal(HostKeyVerdict.RefuseRevoked, Decide(known: known).Verdict);
        Assert.Equal(HostKeyVerdict.RefuseRevoked, Decide(pin: Ed25519Fingerprint, known: known).Verdict);
        Assert.Equal(HostKeyVerdict.RefuseRevoked, Decide(acceptNew: true, known: known).Verdict);
    }

    [Fact] public void CertAuthorityLinesAreNotHostKeys() =>
        Assert.Equal(HostKeyVerdict.RefuseUnknown, Decide(known: Known($"@cert-authority db1.example.net ssh-ed25519 {Ed25519}")).Verdict);

    [Fact]
    public void HashedEntriesCount()
    {
        var salt = new byte[20];
        var line = $"{KnownHosts.HashHostName("db1.example.net", salt)} ssh-ed25519 {OtherEd25519}";
        Assert.Equal(HostKeyVerdict.RefuseChanged, Decide(known: Known(line)).Verdict);
    }

    [Fact]
    public void RefusalsNameTheHostAndTheFingerprints()
    {
        var changed = HostKeyPolicy.Refusal("db1.example.net", 2222, Decide(pin: OtherEd25519Fingerprint, port: 2222));
        Assert.True(changed.IsChanged);
        Assert.Contains("[db1.example.net]:2222", changed.Message);
        Assert.Contains(Ed25519Fingerprint, changed.Message);
        Assert.Contains(OtherEd25519Fingerprint, changed.Message);
        Assert.Equal("db1.example.net", changed.Host);

        var unknown = HostKeyPolicy.Refusal("db1.example.net", 22, Decide());
        Assert.False(unknown.IsChanged);
        Assert.Equal(HostKeyVerdict.RefuseUnknown, unknown.Verdict);
        Assert.Contains("db1.example.net", unknown.Message);
        Assert.Contains(Ed25519Fingerprint, unknown.Message);
        Assert.Null(unknown.ExpectedFingerprint);
    }
}
