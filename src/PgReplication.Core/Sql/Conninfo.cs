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
