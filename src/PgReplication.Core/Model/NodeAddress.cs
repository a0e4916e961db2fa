using System.Globalization;

namespace PgReplication.Core.Model;

/// <summary>A "host", "host:port", "[v6]:port" or bare IPv6 address as users type it.</summary>
public readonly record struct NodeAddress(string Host, int? Port)
{
    public static NodeAddress Parse(string text)
    {
        if (!TryParse(text, out var address, out var error))
            throw new FormatException(error);
        return address;
    }

    public static bool TryParse(string? text, out NodeAddress address, out string error)
    {
        address = default;
        error = "";
        var value = text?.Trim(' ') ?? ""; // only spaces: a trailing newline is an error, not noise
        if (value.Length == 0) { error = "The computer name is empty."; return false; }
        if (value.Any(c => char.IsWhiteSpace(c) || char.IsControl(c)))
        {
            error = $"The computer name '{Printable(value)}' contains a space or control character.";
            return false;
        }

        string host;
        string? portText = null;
        if (value.StartsWith('['))
        {
            var close = value.IndexOf(']');
            if (close < 0) { error = $"The computer name '{value}' has '[' without ']'."; return false; }
            host = value[1..close];
            var rest = value[(close + 1)..];
            if (rest.Length > 0)
            {
                if (!rest.StartsWith(':')) { error = $"Unexpected text after ']' in '{value}'."; return false; }
                portText = rest[1..];
            }
        }
        else if (value.Count(c => c == ':') == 1)
        {
            var colon = value.IndexOf(':');
            host = value[..colon];
            portText = value[(colon + 1)..];
        }
        else
        {
            host = value; // a name, an IPv4 address, or a bare IPv6 address (no port)
        }

        if (host.Length == 0) { error = $"The computer name '{value}' has no host part."; return false; }
        // The host reaches ssh and rsync command lines (user@host): one that starts with '-' would be read as an
        // option there, and shell or ssh syntax has no place in a name or an address.
        if (host[0] is '-' or '.' || !host.All(c => char.IsLetterOrDigit(c) || c is '.' or '-' or '_' or ':' or '%'))
        {
            error = $"The computer name '{value}' is not a host name or an IP address (it starts with '-' or '.', or holds characters such as ' ; $ ` = / that a host name cannot).";
            return false;
        }
        int? port = null;
        if (portText is not null)
        {
            if (!int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out var p) || p < 1 || p > 65535)
            {
                error = $"The port '{portText}' in '{value}' is not a number from 1 to 65535.";
                return false;
            }
            port = p;
        }
        address = new NodeAddress(host, port);
        return true;
    }

    private static string Printable(string s) =>
        string.Concat(s.Select(c => char.IsControl(c) ? $"\\x{(int)c:x2}" : c.ToString()));
}
