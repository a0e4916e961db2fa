using System.Text;

namespace PgReplication.Core.Sql;

/// <summary>libpq keyword/value connection strings: parse, and build with values quoted as libpq expects.</summary>
public static class Conninfo
{
    public static Dictionary<string, string> Parse(string conninfo)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        var i = 0;
        while (true)
        {
            while (i < conninfo.Length && char.IsWhiteSpace(conninfo[i])) i++;
            if (i >= conninfo.Length) break;
            var keyStart = i;
            while (i < conninfo.Length && conninfo[i] != '=' && !char.IsWhiteSpace(conninfo[i])) i++;
            var key = conninfo[keyStart..i];
            while (i < conninfo.Length && char.IsWhiteSpace(conninfo[i])) i++;
            if (i >= conninfo.Length || conninfo[i] != '=') throw new FormatException($"Missing '=' after '{key}' in conninfo.");
            i++;
            while (i < conninfo.Length && char.IsWhiteSpace(conninfo[i])) i++;
            var value = new StringBuilder();
            if (i < conninfo.Length && conninfo[i] == '\'')
            {
                i++;
                while (i < conninfo.Length && conninfo[i] != '\'')
                {
                    if (conninfo[i] == '\\' && i + 1 < conninfo.Length) i++;
                    value.Append(conninfo[i++]);
                }
                if (i >= conninfo.Length) throw new FormatException("Unterminated quoted value in conninfo.");
                i++;
            }
            else
            {
                while (i < conninfo.Length && !char.IsWhiteSpace(conninfo[i]))
                {
                    if (conninfo[i] == '\\' && i + 1 < conninfo.Length) i++;
                    value.Append(conninfo[i++]);
                }
            }
            result[key] = value.ToString();
        }
        return result;
    }

    /// <summary>
    /// One value from a conninfo as the server displays it (pg_stat_wal_receiver.conninfo shows values
    /// unquoted, so a value with a space cannot be parsed whole): the first word after key=.
    /// </summary>
    public static string? DisplayedValue(string? conninfo, string key)
    {
        if (string.IsNullOrEmpty(conninfo)) return null;
        var m = System.Text.RegularExpressions.Regex.Match(conninfo, @"(?:^|\s)" + System.Text.RegularExpressions.Regex.Escape(key) + @"=('(?:[^'\\]|\\.)*'|\S+)");
        if (!m.Success) return null;
        var raw = m.Groups[1].Value;
        return raw.StartsWith('\'') ? Parse(key + "=" + raw)[key] : raw;
    }

    /// <summary>Builds "key='value' ..." quoting every value (backslash and quote escaped).</summary>
    public static string Build(IEnumerable<KeyValuePair<string, string>> values) =>
        string.Join(' ', values.Select(kv => $"{kv.Key}={QuoteValue(kv.Value)}"));

    public static string QuoteValue(string value)
    {
        if (value.Any(c => c is '\0' or '\n' or '\r'))
            throw new ArgumentException("A conninfo value cannot contain CR, LF or NUL.", nameof(value));
        return "'" + value.Replace("\\", "\\\\").Replace("'", "\\'") + "'";
    }
}
