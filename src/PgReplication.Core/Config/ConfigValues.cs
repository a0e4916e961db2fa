using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;

namespace PgReplication.Core.Config;

/// <summary>Validation and reading of the values the module writes into postgresql.auto.conf and pg_hba.conf.</summary>
public static class ConfigValues
{
    /// <summary>
    /// Refuses CR, LF and NUL, which would end a line of a config file (or a statement, or a connection
    /// string in a config) early. The message names the value, unless it is a <paramref name="secret"/>.
    /// </summary>
    public static void EnsureSafe(string value, string what, bool secret = false)
    {
        ArgumentNullException.ThrowIfNull(value);
        if (value.IndexOfAny(new[] { '\r', '\n', '\0' }) >= 0)
            throw new ArgumentException($"The {what}{(secret ? "" : $" '{Printable(value)}'")} contains a line break or NUL character, which a configuration value cannot hold.");
    }

    /// <summary>A setting name as pg_settings spells them (lowercase words, dots for extension settings).</summary>
    public static void EnsureSettingName(string name)
    {
        EnsureSafe(name, "setting name");
        if (!Regex.IsMatch(name, @"^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)?$"))
            throw new ArgumentException($"'{name}' is not a valid setting name.");
    }

    /// <summary>Shows control characters as \xNN so an error message stays on one line.</summary>
    public static string Printable(string s) =>
        string.Concat(s.Select(c => char.IsControl(c) ? $"\\x{(int)c:x2}" : c.ToString()));

    /// <summary>A boolean setting as the server reads it: on/off, true/false, yes/no, 1/0 (and unique prefixes).</summary>
    public static bool? ParseBool(string? text)
    {
        var t = text?.Trim().ToLowerInvariant();
        return t switch
        {
            "on" or "true" or "yes" or "1" or "t" or "tr" or "tru" or "y" or "ye" => true,
            "off" or "false" or "no" or "0" or "f" or "fa" or "fal" or "fals" or "n" or "of" => false,
            _ => null,
        };
    }

    private static readonly Dictionary<string, long> MemoryUnits = new(StringComparer.Ordinal)
    {
        ["B"] = 1, ["kB"] = 1024, ["MB"] = 1024L * 1024, ["GB"] = 1024L * 1024 * 1024, ["TB"] = 1024L * 1024 * 1024 * 1024,
    };

    /// <summary>
    /// A numeric setting in the units pg_settings reports (<paramref name="unit"/>: "MB", "8kB", "kB", or
    /// null for a plain number): "1GB" with unit MB is 1024. -1 stays -1. Null when it does not parse.
    /// </summary>
    public static long? ToSettingUnits(string? text, string? unit)
    {
        if (text is null) return null;
        var m = Regex.Match(text.Trim(), @"^(-?\d+)\s*([a-zA-Z]*)$");
        if (!m.Success) return null;
        var number = long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
        var suffix = m.Groups[2].Value;
        if (suffix.Length == 0 || number == -1) return number;
        if (!MemoryUnits.TryGetValue(suffix, out var bytes)) return null;
        var baseBytes = UnitBytes(unit);
        if (baseBytes is null) return null;
        return number * bytes / baseBytes.Value;
    }

    /// <summary>Bytes in one of pg_settings.unit ("8kB" is 8192); null for non-memory units.</summary>
    public static long? UnitBytes(string? unit)
    {
        if (string.IsNullOrEmpty(unit)) return null;
        var m = Regex.Match(unit, @"^(\d*)(B|kB|MB|GB|TB)$");
        if (!m.Success) return null;
        var factor = m.Groups[1].Value.Length == 0 ? 1 : long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
        return factor * MemoryUnits[m.Groups[2].Value];
    }
}

/// <summary>listen_addresses: a comma-separated list of host names and addresses, '*' for all.</summary>
public static class ListenAddresses
{
    public static IReadOnlyList<string> Parse(string? value) =>
        (value ?? "").Split(',').Select(s => s.Trim().Trim('"').Trim()).Where(s => s.Length > 0).ToList();

    /// <summary>True when a server listening on <paramref name="list"/> accepts connections to <paramref name="address"/>.</summary>
    public static bool Covers(IReadOnlyList<string> list, string address)
    {
        if (list.Contains("*")) return true;
        if (list.Any(l => string.Equals(l, address, StringComparison.OrdinalIgnoreCase))) return true;
        if (!IPAddress.TryParse(address, out var ip)) return false;
        if (ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork && list.Contains("0.0.0.0")) return true;
        if (ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 && list.Contains("::")) return true;
        if (IPAddress.IsLoopback(ip) && list.Any(l => l.Equals("localhost", StringComparison.OrdinalIgnoreCase))) return true;
        return list.Any(l => IPAddress.TryParse(l, out var other) && other.Equals(ip));
    }

    /// <summary>The list with what is missing appended (what is there is kept), or null when nothing is missing.</summary>
    public static string? WithAdded(string? current, IEnumerable<string> needed)
    {
        var list = Parse(current).ToList();
        var added = false;
        foreach (var address in needed)
        {
            ConfigValues.EnsureSafe(address, "listen address");
            if (Covers(list, address)) continue;
            list.Add(address);
            added = true;
        }
        return added ? string.Join(",", list) : null;
    }
}

/// <summary>synchronous_standby_names values.</summary>
public static class SynchronousStandbyNames
{
    /// <summary>"FIRST 1 (\"db2\", \"db3\")": names quoted (application_name is compared as written).</summary>
    public static string Build(SynchronousMode mode, int count, IReadOnlyList<string> names)
    {
        if (names.Count == 0) throw new ArgumentException("Synchronous replication needs at least one standby name.");
        if (count < 1 || count > names.Count)
            throw new ArgumentException($"The synchronous count {count} must be from 1 to the number of standby names ({names.Count}).");
        foreach (var n in names)
        {
            ConfigValues.EnsureSafe(n, "synchronous standby name");
            if (n.Length == 0) throw new ArgumentException("A synchronous standby name cannot be empty.");
        }
        var list = string.Join(", ", names.Select(n => "\"" + n.Replace("\"", "\"\"") + "\""));
        return $"{(mode == SynchronousMode.First ? "FIRST" : "ANY")} {count.ToString(CultureInfo.InvariantCulture)} ({list})";
    }

    /// <summary>
    /// The standby names of a synchronous_standby_names value ("FIRST 1 (a, \"b\")", "ANY 2 (a,b)", "2 (a,b)", "a, b", "*");
    /// empty when replication is asynchronous. The server compares them with application_name case-insensitively.
    /// </summary>
    public static IReadOnlyList<string> Parse(string? value)
    {
        var text = (value ?? "").Trim();
        if (text.Length == 0) return Array.Empty<string>();
        var open = text.IndexOf('(');
        if (open >= 0 && text.EndsWith(')')) text = text[(open + 1)..^1];
        var names = new List<string>();
        var current = new System.Text.StringBuilder();
        var quoted = false;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c == '"' && quoted && i + 1 < text.Length && text[i + 1] == '"') { current.Append('"'); i++; }
            else if (c == '"') quoted = !quoted;
            else if (c == ',' && !quoted) { names.Add(current.ToString().Trim()); current.Clear(); }
            else current.Append(c);
        }
        names.Add(current.ToString().Trim());
        return names.Where(n => n.Length > 0).ToList();
    }

    /// <summary>
    /// How many synchronous standbys must confirm a commit: n of "FIRST n (...)", "ANY n (...)" or "n (...)",
    /// 1 for a plain list (the old syntax), 0 when replication is asynchronous.
    /// </summary>
    public static int RequiredCount(string? value)
    {
        var text = (value ?? "").Trim();
        if (Parse(text).Count == 0) return 0;
        var match = Regex.Match(text, @"^(?:(?:FIRST|ANY)\s+)?(\d+)\s*\(", RegexOptions.IgnoreCase);
        return match.Success ? int.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture) : 1;
    }

    /// <summary>True when a standby with this application_name can be synchronous under <paramref name="names"/>.</summary>
    public static bool Lists(IReadOnlyList<string> names, string applicationName) =>
        names.Any(n => n == "*" || string.Equals(n, applicationName, StringComparison.OrdinalIgnoreCase));
}
