using System.Net;
using System.Net.Sockets;
using System.Text;

namespace PgReplication.Core.Config;

/// <summary>One line of pg_hba.conf: its text as written, and its fields when it is a rule.</summary>
public sealed class HbaLine
{
    internal HbaLine(int lineNumber, string text, IReadOnlyList<HbaToken> fields)
    {
        LineNumber = lineNumber; Text = text; Fields = fields;
    }

    /// <summary>1-based line number in the file the line was parsed from (the first line of a continued line).</summary>
    public int LineNumber { get; }
    /// <summary>The line as written (continuation lines joined with their newlines).</summary>
    public string Text { get; }
    /// <summary>The fields: each a comma-separated list of tokens; empty for blank lines and comments.</summary>
    public IReadOnlyList<HbaToken> Fields { get; }
    public bool IsRule => Fields.Count > 0;

    /// <summary>local, host, hostssl, hostnossl, hostgssenc, hostnogssenc, or include* directives.</summary>
    public string? Type => IsRule ? Fields[0].Items[0].Value : null;
    public bool IsTcp => Type is "host" or "hostssl" or "hostnossl" or "hostgssenc" or "hostnogssenc";
    public HbaToken? Database => IsRule && Fields.Count > 1 ? Fields[1] : null;
    public HbaToken? User => IsRule && Fields.Count > 2 ? Fields[2] : null;
    /// <summary>The address field of a TCP rule (a CIDR, a host name, all, samehost, samenet).</summary>
    public string? Address => IsTcp && Fields.Count > 3 ? Fields[3].Items[0].Value : null;
    /// <summary>The separate netmask field (old style "addr mask"), when the address has no '/'.</summary>
    public string? Netmask => IsTcp && Fields.Count > 5 && Address is { } a && !a.Contains('/') && IPAddress.TryParse(Fields[4].Items[0].Value, out _)
        ? Fields[4].Items[0].Value : null;
    public string? Method => IsRule && Fields.Count > MethodIndex ? Fields[MethodIndex].Items[0].Value : null;

    /// <summary>Which field is the method: after the user for local, after the address (and its netmask) for TCP.</summary>
    internal int MethodIndex => Type == "local" ? 3 : Netmask is null ? 4 : 5;

    public override string ToString() => Text;
}

/// <summary>One field of a rule: its comma-separated items, each remembering whether it was quoted.</summary>
public sealed record HbaToken(IReadOnlyList<HbaItem> Items);

/// <summary>A word of pg_hba.conf. A quoted word is never a keyword ("all" quoted is a role named all).</summary>
public sealed record HbaItem(string Value, bool Quoted)
{
    public bool IsKeyword(string keyword) => !Quoted && Value == keyword;
}

/// <summary>
/// pg_hba.conf read as the server tokenises it (hba.c: fields split on blanks, commas within a
/// field, double quotes with "" for a quote, # comments, a trailing backslash continues the line),
/// so the module can tell which rule a connection would meet first. Pure functions: no I/O.
/// </summary>
public static class HbaFile
{
    private static readonly string[] KnownTypes =
        { "local", "host", "hostssl", "hostnossl", "hostgssenc", "hostnogssenc", "include", "include_if_exists", "include_dir" };

    public static IReadOnlyList<HbaLine> Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var lines = new List<HbaLine>();
        var raw = text.Replace("\r\n", "\n").Split('\n');
        // A file ending in a newline yields one empty last piece that is not a line.
        var count = raw.Length > 0 && raw[^1].Length == 0 ? raw.Length - 1 : raw.Length;
        for (var i = 0; i < count; i++)
        {
            var start = i;
            var joined = new StringBuilder(raw[i]);
            var logical = new StringBuilder(raw[i]);
            // Continuation (16+): a backslash at the very end joins the next line.
            while (EndsWithContinuation(logical) && i + 1 < count)
            {
                logical.Length--;
                i++;
                logical.Append(raw[i]);
                joined.Append('\n').Append(raw[i]);
            }
            lines.Add(new HbaLine(start + 1, joined.ToString(), Tokenize(logical.ToString(), start + 1)));
        }
        return lines;
    }

    private static bool EndsWithContinuation(StringBuilder s) => s.Length > 0 && s[^1] == '\\';

    /// <summary>
    /// Splits one logical line into fields of comma-separated items, as hba.c's next_field_expand does;
    /// <paramref name="spans"/>, when given, gets where each field starts and ends in the line.
    /// </summary>
    internal static IReadOnlyList<HbaToken> Tokenize(string line, int lineNumber, List<(int Start, int End)>? spans = null)
    {
        var fields = new List<HbaToken>();
        var i = 0;
        while (true)
        {
            while (i < line.Length && (line[i] == ' ' || line[i] == '\t')) i++;
            if (i >= line.Length || line[i] == '#') break;
            var start = i;
            var items = new List<HbaItem>();
            while (true)
            {
                var value = new StringBuilder();
                var quoted = false;
                var inQuote = false;
                while (i < line.Length && (inQuote || (line[i] != ' ' && line[i] != '\t' && line[i] != ',' && line[i] != '#')))
                {
                    var c = line[i];
                    if (c == '"')
                    {
                        if (inQuote && i + 1 < line.Length && line[i + 1] == '"') { value.Append('"'); i += 2; continue; }
                        inQuote = !inQuote; quoted = true; i++; continue;
                    }
                    value.Append(c); i++;
                }
                if (inQuote) throw new FormatException($"pg_hba.conf line {lineNumber}: unterminated quoted string.");
                items.Add(new HbaItem(value.ToString(), quoted));
                if (i < line.Length && line[i] == ',') { i++; continue; }
                break;
            }
            fields.Add(new HbaToken(items));
            spans?.Add((start, i));
        }
        return fields;
    }

    /// <summary>
    /// The line with one field replaced by <paramref name="value"/>, every other character as written (alignment,
    /// comments, options). A continued line (16+) is not rewritten: it returns null.
    /// </summary>
    internal static string? WithField(HbaLine line, int field, string value)
    {
        if (line.Text.Contains('\n')) return null;
        var spans = new List<(int Start, int End)>();
        Tokenize(line.Text, line.LineNumber, spans);
        if (field >= spans.Count) return null;
        var (start, end) = spans[field];
        return line.Text[..start] + value + line.Text[end..];
    }

    /// <summary>
    /// Our own dry parse of a whole file before the server sees it: every rule has a known type,
    /// enough fields, and a TCP rule's address parses. Returns the problems, empty when none.
    /// </summary>
    public static IReadOnlyList<string> Check(string text)
    {
        var problems = new List<string>();
        IReadOnlyList<HbaLine> lines;
        try { lines = Parse(text); }
        catch (FormatException ex) { return new[] { ex.Message }; }
        foreach (var line in lines.Where(l => l.IsRule))
        {
            var type = line.Type!;
            if (!KnownTypes.Contains(type) || line.Fields[0].Items[0].Quoted)
            {
                problems.Add($"line {line.LineNumber}: unknown connection type '{type}'.");
                continue;
            }
            if (type.StartsWith("include", StringComparison.Ordinal))
            {
                if (line.Fields.Count != 2) problems.Add($"line {line.LineNumber}: {type} takes one file name.");
                continue;
            }
            var minimum = type == "local" ? 4 : 5;
            if (line.Fields.Count < minimum)
            {
                problems.Add($"line {line.LineNumber}: too few fields for a '{type}' rule.");
                continue;
            }
            if (line.IsTcp && line.Address is { } address && address.Contains('/') && !TryParseCidr(address, out _, out _))
                problems.Add($"line {line.LineNumber}: '{address}' is not a valid CIDR address.");
            if (line.Method is null || line.Method.Length == 0)
                problems.Add($"line {line.LineNumber}: no authentication method.");
        }
        return problems;
    }

    /// <summary>
    /// Quotes a role name for pg_hba.conf when it needs it: a name that is not plain lowercase
    /// letters, digits and underscores, or that is a keyword, or starts with + @ or / (group,
    /// file, regular expression), is written in double quotes with " doubled.
    /// </summary>
    public static string QuoteName(string name)
    {
        ConfigValues.EnsureSafe(name, "role name");
        if (name.Length == 0) throw new ArgumentException("A role name cannot be empty.", nameof(name));
        var plain = name.All(c => c is >= 'a' and <= 'z' or >= '0' and <= '9' or '_') &&
                    name is not ("all" or "sameuser" or "samerole" or "samegroup" or "replication");
        return plain ? name : "\"" + name.Replace("\"", "\"\"") + "\"";
    }

    /// <summary>Parses "a.b.c.d/n" or "v6/n" into an address and prefix length.</summary>
    public static bool TryParseCidr(string text, out IPAddress address, out int prefix)
    {
        address = IPAddress.None; prefix = -1;
        var slash = text.IndexOf('/');
        var host = slash < 0 ? text : text[..slash];
        if (!IPAddress.TryParse(host, out var parsed) || host.Contains('%')) return false;
        var max = parsed.AddressFamily == AddressFamily.InterNetwork ? 32 : 128;
        if (slash < 0) prefix = max;
        else if (!int.TryParse(text[(slash + 1)..], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out prefix) || prefix > max) return false;
        address = parsed;
        return true;
    }

    /// <summary>True when <paramref name="address"/> lies in network/prefix.</summary>
    public static bool Contains(IPAddress network, int prefix, IPAddress address)
    {
        if (network.AddressFamily != address.AddressFamily)
        {
            // An IPv4 client may show up IPv4-mapped on an IPv6 socket; the server compares it as IPv4.
            if (address.IsIPv4MappedToIPv6) address = address.MapToIPv4();
            if (network.AddressFamily != address.AddressFamily) return false;
        }
        var a = network.GetAddressBytes();
        var b = address.GetAddressBytes();
        for (var bit = 0; bit < prefix; bit++)
        {
            var mask = (byte)(0x80 >> (bit % 8));
            if ((a[bit / 8] & mask) != (b[bit / 8] & mask)) return false;
        }
        return true;
    }

    /// <summary>The prefix length of a dotted netmask (255.255.255.0 is 24), or -1 when not contiguous.</summary>
    internal static int PrefixOfMask(IPAddress mask)
    {
        var bytes = mask.GetAddressBytes();
        var prefix = 0;
        var ended = false;
        foreach (var b in bytes)
            for (var bit = 7; bit >= 0; bit--)
            {
                var set = (b >> bit & 1) == 1;
                if (set && ended) return -1;
                if (set) prefix++; else ended = true;
            }
        return prefix;
    }
}
