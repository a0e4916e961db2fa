using System.Globalization;

namespace PgReplication.Core.Versions;

/// <summary>Turns what servers and tools print about their version into System.Version.</summary>
public static class PgVersion
{
    /// <summary>The oldest major this module supports.</summary>
    public const int OldestSupportedMajor = 10;

    /// <summary>server_version_num (150018, 90624) to a Version (15.18, 9.6.24).</summary>
    public static Version FromVersionNumber(int versionNumber)
    {
        if (versionNumber < 10000)
            throw new FormatException($"'{versionNumber}' is not a PostgreSQL server_version_num.");
        if (versionNumber >= 100000)
            return new Version(versionNumber / 10000, versionNumber % 10000);
        return new Version(versionNumber / 10000, versionNumber / 100 % 100, versionNumber % 100);
    }

    /// <summary>
    /// A version as printed by a server or a tool: "15.18", "15.18 (Debian 15.18-0+deb12u1)",
    /// "pg_basebackup (PostgreSQL) 16.2", "17beta1", "9.6.24".
    /// </summary>
    public static Version Parse(string text)
    {
        if (!TryParse(text, out var version))
            throw new FormatException($"'{text}' does not contain a PostgreSQL version.");
        return version;
    }

    public static bool TryParse(string? text, out Version version)
    {
        version = new Version(0, 0);
        if (string.IsNullOrWhiteSpace(text)) return false;
        var match = System.Text.RegularExpressions.Regex.Match(text, @"(?<![\d.])(\d+)(?:\.(\d+))?(?:\.(\d+))?");
        if (!match.Success) return false;
        var major = int.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);
        var minor = match.Groups[2].Success ? int.Parse(match.Groups[2].Value, CultureInfo.InvariantCulture) : 0;
        if (major >= 10 || !match.Groups[3].Success)
        {
            version = new Version(major, minor);
        }
        else
        {
            version = new Version(major, minor, int.Parse(match.Groups[3].Value, CultureInfo.InvariantCulture));
        }
        return true;
    }

    /// <summary>Throws a clear error for a major older than the oldest supported one.</summary>
    public static void EnsureSupported(Version version, string host)
    {
        if (version.Major < OldestSupportedMajor)
            throw new NotSupportedException(
                $"The server on {host} runs PostgreSQL {version}; PgReplication supports {OldestSupportedMajor} and later.");
    }
}
