using System.Text;
using System.Text.RegularExpressions;

namespace PgReplication.Core.Config;

/// <summary>
/// Edits postgresql.auto.conf of a server that is not running (a fresh standby), where ALTER SYSTEM
/// cannot be used. Later lines win in PostgreSQL's parser, so a setting is replaced where it is and
/// every duplicate removed.
/// </summary>
public static class OfflineSettings
{
    private static readonly Regex SettingLine = new(@"^\s*([A-Za-z_][A-Za-z0-9_.]*)\s*=?\s*(.*?)\s*$", RegexOptions.Compiled);

    /// <summary>Settings as the file has them (last one wins), values unquoted.</summary>
    public static Dictionary<string, string> Read(string text)
    {
        var result = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var raw in text.Split('\n'))
        {
            var line = StripComment(raw);
            var m = SettingLine.Match(line);
            if (m.Success && line.Trim().Length > 0) result[m.Groups[1].Value] = Unquote(m.Groups[2].Value);
        }
        return result;
    }

    /// <summary>Returns the file text with each given setting set (null removes it); other lines kept as they are.</summary>
    public static string Apply(string text, IReadOnlyDictionary<string, string?> changes)
    {
        foreach (var (name, value) in changes)
        {
            ValidateName(name);
            if (value is not null) Quote(value);
        }
        var lines = text.Length == 0 ? new List<string>() : text.TrimEnd('\n').Split('\n').ToList();
        var written = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i < lines.Count; i++)
        {
            var m = SettingLine.Match(StripComment(lines[i]));
            if (!m.Success || StripComment(lines[i]).Trim().Length == 0) continue;
            var name = m.Groups[1].Value;
            var change = changes.FirstOrDefault(c => c.Key.Equals(name, StringComparison.OrdinalIgnoreCase));
            if (change.Key is null) continue;
            if (change.Value is null || !written.Add(name)) { lines.RemoveAt(i--); continue; }
            lines[i] = $"{change.Key} = {Quote(change.Value)}";
        }
        foreach (var (name, value) in changes)
            if (value is not null && !written.Contains(name))
                lines.Add($"{name} = {Quote(value)}");
        return string.Join('\n', lines) + "\n";
    }

    /// <summary>A value as postgresql.conf quotes it: backslashes and quotes escaped. CR, LF and NUL refused.</summary>
    public static string Quote(string value)
    {
        if (value.Any(c => c is '\r' or '\n' or '\0'))
            throw new ArgumentException($"The setting value '{value.Replace("\n", "\\n").Replace("\r", "\\r").Replace("\0", "\\0")}' contains CR, LF or NUL.");
        return "'" + value.Replace("\\", "\\\\").Replace("'", "''") + "'";
    }

    public static void ValidateName(string name)
    {
        if (!Regex.IsMatch(name, @"^[A-Za-z_][A-Za-z0-9_.]*$"))
            throw new ArgumentException($"'{name}' is not a PostgreSQL setting name.");
    }

    private static string Unquote(string value)
    {
        if (value.Length < 2 || value[0] != '\'') return value;
        var sb = new StringBuilder();
        for (var i = 1; i < value.Length; i++)
        {
            var c = value[i];
            if (c == '\\' && i + 1 < value.Length) { sb.Append(value[++i]); continue; }
            if (c == '\'')
            {
                if (i + 1 < value.Length && value[i + 1] == '\'') { sb.Append('\''); i++; continue; }
                break;
            }
            sb.Append(c);
        }
        return sb.ToString();
    }

    // A '#' outside quotes starts a comment.
    private static string StripComment(string line)
    {
        var inQuote = false;
        for (var i = 0; i < line.Length; i++)
        {
            if (line[i] == '\\' && inQuote) { i++; continue; }
            if (line[i] == '\'') inQuote = !inQuote;
            else if (line[i] == '#' && !inQuote) return line[..i];
        }
        return line;
    }
}
