using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;

namespace PgReplication.Core.Hosts;

/// <summary>What a known_hosts line says about its key.</summary>
public enum KnownHostMarker
{
    /// <summary>An ordinary line: the key is the host's key.</summary>
    None,
    /// <summary>@revoked: the key must never be accepted, for any host.</summary>
    Revoked,
    /// <summary>@cert-authority: a CA key for host certificates (not used here: such lines are skipped).</summary>
    CertAuthority,
}

/// <summary>One key line of an OpenSSH known_hosts file.</summary>
public sealed class KnownHostEntry
{
    internal KnownHostEntry(int lineNumber, KnownHostMarker marker, string hosts, string keyType, byte[] keyBlob)
    {
        LineNumber = lineNumber; Marker = marker; Hosts = hosts; KeyType = keyType; KeyBlob = keyBlob;
    }

    public int LineNumber { get; }
    public KnownHostMarker Marker { get; }
    /// <summary>The host field as written: comma-separated patterns, or one hashed name (|1|salt|hash).</summary>
    public string Hosts { get; }
    /// <summary>The key's type as written (ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp256, ...).</summary>
    public string KeyType { get; }
    /// <summary>The key in SSH wire format (the base64 field decoded).</summary>
    public byte[] KeyBlob { get; }
    public string Fingerprint => KnownHosts.Fingerprint(KeyBlob);
    public bool IsHashed => Hosts.StartsWith("|1|", StringComparison.Ordinal);

    /// <summary>True when this line is about <paramref name="host"/> on <paramref name="port"/>.</summary>
    public bool Matches(string host, int port) => KnownHosts.HostMatches(Hosts, host, port);
}

/// <summary>
/// Reads and appends OpenSSH known_hosts files: plain and hashed (|1|salt|hmac-sha1) host names,
/// [host]:port for ports other than 22, wildcards and negations, @revoked and @cert-authority
/// markers, comments. Also the one place SHA256 fingerprints are made.
/// </summary>
public static class KnownHosts
{
    /// <summary>~/.ssh/known_hosts of the user running this process.</summary>
    public static string DefaultPath =>
        Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".ssh", "known_hosts");

    /// <summary>"SHA256:" and the unpadded base64 of the SHA-256 of the key blob, as ssh-keygen -l prints it.</summary>
    public static string Fingerprint(byte[] keyBlob) =>
        "SHA256:" + Convert.ToBase64String(SHA256.HashData(keyBlob)).TrimEnd('=');

    /// <summary>Fingerprints compare exactly, except that the "SHA256:" prefix and base64 padding are optional.</summary>
    public static bool SameFingerprint(string a, string b) => Normalize(a) == Normalize(b);

    private static string Normalize(string fingerprint)
    {
        var f = fingerprint.Trim();
        if (f.StartsWith("SHA256:", StringComparison.Ordinal)) f = f["SHA256:".Length..];
        return f.TrimEnd('=');
    }

    /// <summary>The key type named inside an SSH wire-format key blob (its first string).</summary>
    public static string KeyTypeOf(byte[] keyBlob)
    {
        if (keyBlob.Length < 4) throw new FormatException("The host key is too short to be an SSH key.");
        var length = (keyBlob[0] << 24) | (keyBlob[1] << 16) | (keyBlob[2] << 8) | keyBlob[3];
        if (length <= 0 || length > keyBlob.Length - 4) throw new FormatException("The host key does not start with its type.");
        return Encoding.ASCII.GetString(keyBlob, 4, length);
    }

    /// <summary>How a host is written in known_hosts: "host" on port 22, "[host]:port" otherwise.</summary>
    public static string HostKeyName(string host, int port) => port == 22 ? host : $"[{host}]:{port}";

    /// <summary>The key lines of a known_hosts text; comments, blank and malformed lines are skipped.</summary>
    public static IReadOnlyList<KnownHostEntry> Parse(string text)
    {
        var entries = new List<KnownHostEntry>();
        var lines = text.Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i].Trim();
            if (line.Length == 0 || line.StartsWith('#')) continue;
            var fields = Regex.Split(line, @"[ \t]+");
            var marker = KnownHostMarker.None;
            var f = 0;
            if (fields[0].StartsWith('@'))
            {
                marker = fields[0] switch
                {
                    "@revoked" => KnownHostMarker.Revoked,
                    "@cert-authority" => KnownHostMarker.CertAuthority,
                    _ => (KnownHostMarker)(-1),
                };
                if ((int)marker < 0) continue; // an unknown marker: ignore the line, as ssh does
                f = 1;
            }
            if (fields.Length < f + 3) continue;
            byte[] blob;
            try { blob = Convert.FromBase64String(fields[f + 2]); }
            catch (FormatException) { continue; }
            entries.Add(new KnownHostEntry(i + 1, marker, fields[f], fields[f + 1], blob));
        }
        return entries;
    }

    /// <summary>The entries of a file; none when it does not exist.</summary>
    public static IReadOnlyList<KnownHostEntry> Load(string path) =>
        File.Exists(path) ? Parse(File.ReadAllText(path)) : Array.Empty<KnownHostEntry>();

    /// <summary>True when the host field of a known_hosts line names <paramref name="host"/> on <paramref name="port"/>.</summary>
    public static bool HostMatches(string hostsField, string host, int port)
    {
        var name = HostKeyName(host, port);
        if (hostsField.StartsWith("|1|", StringComparison.Ordinal)) return HashedMatches(hostsField, name);

        // Comma-separated patterns; a matching negated pattern (!pattern) vetoes the line.
        var matched = false;
        foreach (var raw in hostsField.Split(','))
        {
            var negated = raw.StartsWith('!');
            var pattern = negated ? raw[1..] : raw;
            if (pattern.Length == 0) continue;
            if (!WildcardMatches(pattern, name)) continue;
            if (negated) return false;
            matched = true;
        }
        return matched;
    }

    /// <summary>A hashed host name: |1|base64(salt)|base64(HMAC-SHA1(key: salt, data: name)).</summary>
    public static string HashHostName(string name, byte[] salt) =>
        $"|1|{Convert.ToBase64String(salt)}|{Convert.ToBase64String(HMACSHA1.HashData(salt, Encoding.UTF8.GetBytes(name)))}";

    private static bool HashedMatches(string field, string name)
    {
        var parts = field.Split('|');
        if (parts.Length != 4) return false;
        try
        {
            var salt = Convert.FromBase64String(parts[2]);
            var expected = Convert.FromBase64String(parts[3]);
            var actual = HMACSHA1.HashData(salt, Encoding.UTF8.GetBytes(name));
            return CryptographicOperations.FixedTimeEquals(expected, actual);
        }
        catch (FormatException) { return false; }
    }

    // Host names compare case-insensitively, as ssh lowercases them; '*' and '?' are the only wildcards.
    private static bool WildcardMatches(string pattern, string name)
    {
        if (!pattern.Contains('*') && !pattern.Contains('?'))
            return string.Equals(pattern, name, StringComparison.OrdinalIgnoreCase);
        var regex = "^" + Regex.Escape(pattern).Replace(@"\*", ".*").Replace(@"\?", ".") + "$";
        return Regex.IsMatch(name, regex, RegexOptions.IgnoreCase | RegexOptions.CultureInvariant);
    }

    private static readonly object AppendLock = new();

    /// <summary>
    /// Appends "host keytype base64" to a known_hosts file, creating it (0600, its directory 0700) when missing.
    /// </summary>
    public static void Append(string path, string host, int port, byte[] keyBlob)
    {
        var line = $"{HostKeyName(host, port)} {KeyTypeOf(keyBlob)} {Convert.ToBase64String(keyBlob)}\n";
        lock (AppendLock)
        {
            var directory = Path.GetDirectoryName(Path.GetFullPath(path));
            var options = new FileStreamOptions { Mode = FileMode.Append, Access = FileAccess.Write, Share = FileShare.Read };
            if (!OperatingSystem.IsWindows())
            {
                if (!string.IsNullOrEmpty(directory) && !Directory.Exists(directory))
                    Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
                options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            }
            else if (!string.IsNullOrEmpty(directory)) Directory.CreateDirectory(directory);
            using var stream = new FileStream(path, options);
            // A file that does not end in a newline would glue our line to its last one.
            var needsNewline = stream.Length > 0 && !EndsWithNewline(path);
            var bytes = Encoding.ASCII.GetBytes((needsNewline ? "\n" : "") + line);
            stream.Write(bytes);
            stream.Flush(flushToDisk: true);
        }
    }

    private static bool EndsWithNewline(string path)
    {
        using var read = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        if (read.Length == 0) return true;
        read.Seek(-1, SeekOrigin.End);
        return read.ReadByte() == '\n';
    }
}
