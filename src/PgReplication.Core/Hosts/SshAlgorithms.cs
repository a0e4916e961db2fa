using Renci.SshNet;

namespace PgReplication.Core.Hosts;

/// <summary>
/// Which SSH algorithms we refuse to negotiate. SSH.NET still offers some that OpenSSH dropped
/// years ago (ssh-dss, 3des-cbc, diffie-hellman-group1-sha1, SHA-1 MACs and signatures);
/// a modern sshd never needs them, and offering them only helps a downgrade.
/// </summary>
internal static class SshAlgorithms
{
    public static bool IsWeakKeyExchange(string name) =>
        name.EndsWith("-sha1", StringComparison.Ordinal) || name.Contains("group1-", StringComparison.Ordinal);

    public static bool IsWeakCipher(string name) =>
        name.EndsWith("-cbc", StringComparison.Ordinal) || name.StartsWith("3des", StringComparison.Ordinal) ||
        name.StartsWith("arcfour", StringComparison.Ordinal) || name.StartsWith("blowfish", StringComparison.Ordinal) ||
        name.StartsWith("cast128", StringComparison.Ordinal);

    public static bool IsWeakMac(string name) =>
        name.Contains("md5", StringComparison.Ordinal) || name.StartsWith("hmac-sha1", StringComparison.Ordinal) ||
        name.Contains("-96", StringComparison.Ordinal);

    /// <summary>ssh-dss (1024-bit DSA) and ssh-rsa (RSA with SHA-1 signatures; rsa-sha2-* stay).</summary>
    public static bool IsWeakHostKey(string name) =>
        name is "ssh-dss" or "ssh-rsa" || name.StartsWith("ssh-dss-cert", StringComparison.Ordinal) ||
        name.StartsWith("ssh-rsa-cert", StringComparison.Ordinal);

    /// <summary>Removes the weak algorithms from what the connection will offer.</summary>
    public static void RemoveWeak(ConnectionInfo info)
    {
        RemoveWhere(info.KeyExchangeAlgorithms, IsWeakKeyExchange);
        RemoveWhere(info.Encryptions, IsWeakCipher);
        RemoveWhere(info.HmacAlgorithms, IsWeakMac);
        RemoveWhere(info.HostKeyAlgorithms, IsWeakHostKey);
    }

    private static void RemoveWhere<T>(IDictionary<string, T> algorithms, Func<string, bool> weak)
    {
        foreach (var name in algorithms.Keys.Where(weak).ToList()) algorithms.Remove(name);
    }
}
