using System.Net;

namespace PgReplication.Core.Model;

/// <summary>How a node's host is reached over SSH.</summary>
public sealed class SshOptions
{
    public string User { get; set; } = "postgres";
    public int Port { get; set; } = 22;
    /// <summary>Private key file (OpenSSH ed25519, RSA or ECDSA).</summary>
    public string? KeyPath { get; set; }
    /// <summary>Password (or key passphrase when KeyPath is set).</summary>
    public NetworkCredential? Credential { get; set; }
    /// <summary>Pinned host key: "SHA256:..." as ssh-keygen -l prints it.</summary>
    public string? HostKeyFingerprint { get; set; }
    /// <summary>known_hosts file to check the host key against (default ~/.ssh/known_hosts).</summary>
    public string? KnownHostsPath { get; set; }
    /// <summary>Record an unknown host key instead of refusing it. A changed key is always refused.</summary>
    public bool AcceptNewHostKey { get; set; }
    /// <summary>Reach PostgreSQL through an SSH local port forward to the host's loopback.</summary>
    public bool UseTunnel { get; set; }
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(15);
}
