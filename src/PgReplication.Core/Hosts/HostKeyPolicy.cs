namespace PgReplication.Core.Hosts;

/// <summary>What to do with the key a host presented.</summary>
public enum HostKeyVerdict
{
    /// <summary>It equals the pinned fingerprint.</summary>
    AcceptPinned,
    /// <summary>known_hosts has it for this host.</summary>
    AcceptKnown,
    /// <summary>Unknown, and the caller allowed new keys: accept and record it.</summary>
    AcceptAndRecord,
    /// <summary>Unknown and not allowed.</summary>
    RefuseUnknown,
    /// <summary>The pin or known_hosts says the host has another key: always refused.</summary>
    RefuseChanged,
    /// <summary>known_hosts marks the key @revoked: always refused.</summary>
    RefuseRevoked,
}

/// <summary>A verdict and the fingerprint it was measured against (for the error message).</summary>
public sealed record HostKeyDecision(HostKeyVerdict Verdict, string Presented, string? Expected, string? Source)
{
    public bool Accepted => Verdict is HostKeyVerdict.AcceptPinned or HostKeyVerdict.AcceptKnown or HostKeyVerdict.AcceptAndRecord;
}

/// <summary>
/// Decides whether a host key is trusted. SSH.NET trusts any key unless told otherwise, so every
/// connection asks this. Order: @revoked refuses; a pinned fingerprint decides alone; otherwise
/// known_hosts: the same key accepts, another key of the same type is a changed key, and no key
/// of that type is unknown (recorded only when new keys are accepted).
/// </summary>
public static class HostKeyPolicy
{
    public static HostKeyDecision Decide(string host, int port, byte[] presentedKey, string? pinnedFingerprint,
        IReadOnlyList<KnownHostEntry> knownHosts, bool acceptNew, string? knownHostsPath = null)
    {
        var presented = KnownHosts.Fingerprint(presentedKey);
        var keyType = KnownHosts.KeyTypeOf(presentedKey);

        // A revoked key is refused whatever host it is presented by.
        if (knownHosts.Any(e => e.Marker == KnownHostMarker.Revoked && e.KeyBlob.AsSpan().SequenceEqual(presentedKey)))
            return new(HostKeyVerdict.RefuseRevoked, presented, null, knownHostsPath);

        if (!string.IsNullOrWhiteSpace(pinnedFingerprint))
        {
            return KnownHosts.SameFingerprint(pinnedFingerprint, presented)
                ? new(HostKeyVerdict.AcceptPinned, presented, pinnedFingerprint, "the pinned fingerprint")
                : new(HostKeyVerdict.RefuseChanged, presented, pinnedFingerprint, "the pinned fingerprint");
        }

        var forHost = knownHosts.Where(e => e.Marker == KnownHostMarker.None && e.Matches(host, port)).ToList();
        if (forHost.Any(e => e.KeyBlob.AsSpan().SequenceEqual(presentedKey)))
            return new(HostKeyVerdict.AcceptKnown, presented, presented, knownHostsPath);
        var sameType = forHost.FirstOrDefault(e => e.KeyType == keyType);
        if (sameType is not null)
            return new(HostKeyVerdict.RefuseChanged, presented, sameType.Fingerprint,
                knownHostsPath is null ? $"known_hosts line {sameType.LineNumber}" : $"{knownHostsPath} line {sameType.LineNumber}");
        return new(acceptNew ? HostKeyVerdict.AcceptAndRecord : HostKeyVerdict.RefuseUnknown, presented, null, knownHostsPath);
    }

    /// <summary>The exception for a refused decision, with a message that names the host and the fingerprints.</summary>
    public static SshHostKeyException Refusal(string host, int port, HostKeyDecision decision)
    {
        var where = KnownHosts.HostKeyName(host, port);
        var message = decision.Verdict switch
        {
            HostKeyVerdict.RefuseChanged =>
                $"The SSH host key of {where} has CHANGED: it presented {decision.Presented}, but {decision.Source} expects " +
                $"{decision.Expected}. Someone may be intercepting the connection, or the host was reinstalled. " +
                "The connection was refused; if the change is expected, update the pinned fingerprint or the known_hosts entry.",
            HostKeyVerdict.RefuseRevoked =>
                $"The SSH host key of {where} ({decision.Presented}) is marked @revoked in {decision.Source ?? "known_hosts"}. The connection was refused.",
            _ =>
                $"The SSH host key of {where} is not known: it presented {decision.Presented}, which is in neither a pinned " +
                $"fingerprint nor {decision.Source ?? "known_hosts"}. Check it on the host (ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub), " +
                "then pin it with -SshHostKeyFingerprint, or record it with -AcceptNewHostKey.",
        };
        return new SshHostKeyException(host, port, decision.Verdict, decision.Presented, decision.Expected, message);
    }
}

/// <summary>A host's SSH key was refused: unknown, changed or revoked. The message names the host and the fingerprints.</summary>
public sealed class SshHostKeyException : Exception
{
    public SshHostKeyException(string host, int port, HostKeyVerdict verdict, string presented, string? expected, string message)
        : base(message)
    {
        Host = host; Port = port; Verdict = verdict; PresentedFingerprint = presented; ExpectedFingerprint = expected;
    }

    public string Host { get; }
    public int Port { get; }
    public HostKeyVerdict Verdict { get; }
    public string PresentedFingerprint { get; }
    /// <summary>The pinned or recorded fingerprint the host should have presented; null for an unknown key.</summary>
    public string? ExpectedFingerprint { get; }
    /// <summary>True for a changed key (as opposed to an unknown or revoked one).</summary>
    public bool IsChanged => Verdict == HostKeyVerdict.RefuseChanged;
}
