namespace PgReplication.Core.Config;

/// <summary>libpq password files (~/.pgpass format): one entry per host:port:database:user.</summary>
public static class PassFile
{
    /// <summary>One line; ':' and '\' in a field are escaped with '\'. CR, LF and NUL refused.</summary>
    public static string Line(string host, int port, string database, string user, string password)
    {
        var fields = new[] { host, port.ToString(System.Globalization.CultureInfo.InvariantCulture), database, user, password };
        if (fields.Any(f => f.Any(c => c is '\r' or '\n' or '\0')))
            throw new ArgumentException("A password file entry cannot contain CR, LF or NUL (host, user or password).");
        return string.Join(':', fields.Select(Escape));
    }

    /// <summary>The file with the entry for host:port:database:user replaced (or added); other lines kept.</summary>
    public static string Upsert(string existing, string host, int port, string database, string user, string password)
    {
        var key = string.Join(':', new[] { host, port.ToString(System.Globalization.CultureInfo.InvariantCulture), database, user }.Select(Escape)) + ":";
        var lines = existing.Split('\n').Where(l => l.Length > 0 && !l.StartsWith(key, StringComparison.Ordinal)).ToList();
        lines.Add(Line(host, port, database, user, password));
        return string.Join('\n', lines) + "\n";
    }

    /// <summary>True when the file already holds exactly this entry.</summary>
    public static bool Contains(string existing, string host, int port, string database, string user, string password) =>
        existing.Split('\n').Contains(Line(host, port, database, user, password));

    private static string Escape(string field) => field.Replace("\\", "\\\\").Replace(":", "\\:");
}
