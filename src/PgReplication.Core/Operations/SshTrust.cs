using System.Text;
using PgReplication.Core.Hosts;
using PgReplication.Core.Model;

namespace PgReplication.Core.Operations;

/// <summary>
/// Key-based SSH from one host's postgres user to another's (for rsync of a base backup or of WAL):
/// a key for the source's postgres (made if missing), authorized on the target, and the target's
/// host key pinned in the source's known_hosts — checked against the fingerprint our own connection
/// to the target verified, so the trust is never given to whatever answered a scan.
/// </summary>
public static class SshTrust
{
    private static readonly TimeSpan Short = TimeSpan.FromSeconds(30);

    /// <summary>Returns what it changed (empty when the trust was already in place).</summary>
    public static List<string> Ensure(PgNode source, IHostShell sourceShell, PgNode target, IHostShell targetShell,
        string targetHostKeyFingerprint, IOperationLog log)
    {
        var changes = new List<string>();
        var sourceHome = HostFiles.HomeOf(sourceShell, source.OsUser);
        var key = $"{sourceHome}/.ssh/id_ed25519";
        Run(sourceShell, source.OsUser, "mkdir", "-p", "-m", "0700", $"{sourceHome}/.ssh");
        if (!HostFiles.Exists(sourceShell, key, source.OsUser))
        {
            Run(sourceShell, source.OsUser, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", $"pgreplication@{source.ComputerName}", "-f", key);
            changes.Add($"made an SSH key for {source.OsUser} on {source.Name}");
        }
        var publicKey = HostFiles.ReadText(sourceShell, key + ".pub", source.OsUser).Trim();

        var targetHome = HostFiles.HomeOf(targetShell, target.OsUser);
        var authorized = $"{targetHome}/.ssh/authorized_keys";
        Run(targetShell, target.OsUser, "mkdir", "-p", "-m", "0700", $"{targetHome}/.ssh");
        var existing = HostFiles.ReadTextOrEmpty(targetShell, authorized, target.OsUser);
        if (!existing.Split('\n').Any(l => l.Trim() == publicKey))
        {
            HostFiles.Write(targetShell, authorized, Encoding.UTF8.GetBytes(existing.TrimEnd('\n') + (existing.Length > 0 ? "\n" : "") + publicKey + "\n"), "0600", target.OsUser);
            changes.Add($"authorized {source.Name}'s {source.OsUser} key for {target.OsUser} on {target.Name}");
        }

        var port = target.Ssh?.Port ?? 22;
        var knownHosts = $"{sourceHome}/.ssh/known_hosts";
        var hostEntry = port == 22 ? target.ComputerName : $"[{target.ComputerName}]:{port}";
        var known = HostFiles.ReadTextOrEmpty(sourceShell, knownHosts, source.OsUser);
        var scan = sourceShell.Run(new HostCommand("ssh-keyscan", "-T", "10", "-p", port.ToString(System.Globalization.CultureInfo.InvariantCulture), target.ComputerName)
        { RunAs = source.OsUser, Timeout = Short }).EnsureSuccess().StandardOutput;
        var pinned = scan.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Where(l => !l.StartsWith('#'))
            .FirstOrDefault(l => Fingerprint(l) == targetHostKeyFingerprint)
            ?? throw new InvalidOperationException(
                $"From {source.Name}, {target.ComputerName}:{port} presents no host key with the fingerprint {targetHostKeyFingerprint} that this module verified; refusing to trust it.");
        var keyPart = string.Join(' ', pinned.Split(' ').Skip(1).Take(2));
        if (!known.Split('\n').Any(l => l.Split(' ').FirstOrDefault() == hostEntry && l.Contains(keyPart, StringComparison.Ordinal)))
        {
            HostFiles.Write(sourceShell, knownHosts, Encoding.UTF8.GetBytes(known.TrimEnd('\n') + (known.Length > 0 ? "\n" : "") + $"{hostEntry} {keyPart}\n"), "0600", source.OsUser);
            changes.Add($"pinned {target.Name}'s host key ({targetHostKeyFingerprint}) in {source.OsUser}'s known_hosts on {source.Name}");
        }
        foreach (var c in changes) log.Verbose(c + ".");
        return changes;
    }

    /// <summary>
    /// Before a copy sent by the source's host: true when both nodes are this machine (no SSH needed); else the trust from
    /// the source's postgres to the target's is made, pinned to the host key our own connection to the target verified.
    /// </summary>
    public static bool EnsureForCopy(PgNode source, IHostShell sourceShell, PgNode target, IHostShell targetShell, string method, IOperationLog log)
    {
        if (target.Access == HostAccess.Local && source.Access == HostAccess.Local) return true;
        var fingerprint = targetShell.HostKeyFingerprint
            ?? throw new NotSupportedException($"-Method {method} from {source.Name} to {target.Name} needs SSH access to {target.Name}.");
        Ensure(source, sourceShell, target, targetShell, fingerprint, log);
        return false;
    }

    /// <summary>
    /// ssh's options for a copy from the source host to <paramref name="target"/> over the trust made above: the pinned
    /// key only, no prompt, and a dead peer noticed in about 15 s.
    /// </summary>
    public static IReadOnlyList<string> ClientArguments(PgNode target) => new[]
    {
        "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o", "ConnectTimeout=15", "-o", "ServerAliveInterval=5",
        "-o", "ServerAliveCountMax=3", "-p", (target.Ssh?.Port ?? 22).ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    /// <summary>user@host for ssh, an IPv6 address in brackets.</summary>
    public static string Destination(PgNode target) =>
        $"{target.OsUser}@{(target.ComputerName.Contains(':') ? $"[{target.ComputerName}]" : target.ComputerName)}";

    /// <summary>The SHA256 fingerprint of a known_hosts-style line "host type base64", as ssh-keygen -l prints it.</summary>
    public static string? Fingerprint(string line)
    {
        var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length < 3) return null;
        try
        {
            var blob = Convert.FromBase64String(parts[2]);
            return "SHA256:" + Convert.ToBase64String(System.Security.Cryptography.SHA256.HashData(blob)).TrimEnd('=');
        }
        catch (FormatException) { return null; }
    }

    private static void Run(IHostShell shell, string user, string program, params string[] args) =>
        shell.Run(new HostCommand(program, args) { RunAs = user, Timeout = Short }).EnsureSuccess();
}
