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

    /// <summary>
    /// The file with the entry for host:port:database:user replaced, first: libpq takes the first line that matches, so an
    /// entry after a wildcard line (*:*:*:replicator:old) would never be used. Other lines are kept, in their order.
    /// </summary>
    public static string Upsert(string existing, string host, int port, string database, string user, string password)
    {
        var key = string.Join(':', new[] { host, port.ToString(System.Globalization.CultureInfo.InvariantCulture), database, user }.Select(Escape)) + ":";
        var lines = existing.Split('\n').Where(l => l.Length > 0 && !l.StartsWith(key, StringComparison.Ordinal)).ToList();
        lines.Insert(0, Line(host, port, database, user, password));
        return string.Join('\n', lines) + "\n";
    }

    /// <summary>
    /// The file with the password of every line for <paramref name="user"/> at one of <paramref name="hosts"/> (host and port
    /// as written, database * or replication) replaced: the lines a node keeps for the other members of its cluster. Other
    /// lines, comments and the order are kept.
    /// </summary>
    public static string WithPassword(string existing, IReadOnlyCollection<(string Host, int Port)> hosts, string user, string password)
    {
        var lines = existing.Split('\n').ToList();
        for (var i = 0; i < lines.Count; i++)
        {
            if (lines[i].StartsWith('#')) continue;
            var fields = SplitFields(lines[i].TrimEnd('\r'));
            if (fields.Count != 5 || fields[3] != user || fields[2] is not ("*" or "replication")) continue;
            if (!hosts.Any(h => h.Host == fields[0] && h.Port.ToString(System.Globalization.CultureInfo.InvariantCulture) == fields[1])) continue;
            if (fields[4] != password) lines[i] = Line(fields[0], int.Parse(fields[1], System.Globalization.CultureInfo.InvariantCulture), fields[2], user, password);
        }
        return string.Join('\n', lines);
    }

    /// <summary>True when a replication connection to host:port as user would use exactly this password (the entry, or an earlier line with it).</summary>
    public static bool Contains(string existing, string host, int port, string user, string password) =>
        Find(existing, host, port, user) == password;

    /// <summary>
    /// The password libpq would use for host:port:user (database wildcard or "replication"), or null:
    /// the first matching line wins, '*' matches anything, as libpq reads the file.
    /// </summary>
    public static string? Find(string existing, string host, int port, string user)
    {
        var wanted = new[] { host, port.ToString(System.Globalization.CultureInfo.InvariantCulture), "replication", user };
        foreach (var line in existing.Split('\n'))
        {
            if (line.StartsWith('#')) continue;
            var fields = SplitFields(line.TrimEnd('\r'));
            if (fields.Count != 5) continue;
            if (Enumerable.Range(0, 4).All(i => fields[i] == "*" || fields[i] == wanted[i])) return fields[4];
        }
        return null;
    }

    private static List<string> SplitFields(string line)
    {
        var fields = new List<string>();
        var current = new System.Text.StringBuilder();
        for (var i = 0; i < line.Length; i++)
        {
            if (line[i] == '\\' && i + 1 < line.Length) current.Append(line[++i]);
            else if (line[i] == ':' && fields.Count < 4) { fields.Add(current.ToString()); current.Clear(); }
            else current.Append(line[i]);
        }
        fields.Add(current.ToString());
        return fields;
    }

    private static string Escape(string field) => field.Replace("\\", "\\\\").Replace(":", "\\:");
}
