using System.Net;
using System.Net.Sockets;

namespace PgReplication.Core.Config;

/// <summary>A replication rule to have in pg_hba.conf: one role from one network, SCRAM only.</summary>
public sealed record HbaReplicationRule
{
    /// <param name="database">"replication" (a WAL receiver's login), or a database the role logs in to: a failover
    /// candidate's slot sync worker (17+) connects to one, not for replication.</param>
    public HbaReplicationRule(string role, IPAddress address, int? prefix = null, bool requireSsl = false, string database = "replication")
    {
        ConfigValues.EnsureSafe(role, "role name");
        ConfigValues.EnsureSafe(database, "database name");
        if (database.Length == 0) throw new ArgumentException("A database name cannot be empty.");
        Database = database;
        if (role.Length == 0) throw new ArgumentException("A role name cannot be empty.");
        var max = address.AddressFamily == AddressFamily.InterNetwork ? 32 : 128;
        Prefix = prefix ?? max;
        if (Prefix < 0 || Prefix > max) throw new ArgumentException($"/{Prefix} is not a prefix length for {address}.");
        Role = role;
        Address = Network(address, Prefix);
        RequireSsl = requireSsl;
    }

    public string Role { get; }
    public string Database { get; }
    private bool ForReplication => Database == "replication";
    public IPAddress Address { get; }
    public int Prefix { get; }
    public bool RequireSsl { get; }
    public string Type => RequireSsl ? "hostssl" : "host";
    public string Cidr => $"{Address}/{Prefix}";

    /// <summary>The line as written: "host replication repl 10.0.0.2/32 scram-sha-256".</summary>
    public string Line => Column(Type, 8) + Column(ForReplication ? "replication" : HbaFile.QuoteName(Database), 16) + Column(HbaFile.QuoteName(Role), 16) + Column(Cidr, 24) + "scram-sha-256";

    // Aligned as initdb's pg_hba.conf is, with at least one space between fields.
    private static string Column(string text, int width) => text.Length >= width ? text + " " : text.PadRight(width);

    /// <summary>The network address: host bits cleared, as the server requires of a CIDR.</summary>
    private static IPAddress Network(IPAddress address, int prefix)
    {
        var bytes = address.GetAddressBytes();
        for (var bit = prefix; bit < bytes.Length * 8; bit++) bytes[bit / 8] &= (byte)~(0x80 >> (bit % 8));
        return new IPAddress(bytes);
    }

    /// <summary>True when <paramref name="line"/> says exactly what this rule says.</summary>
    public bool IsSameAs(HbaLine line)
    {
        if (!line.IsRule || line.Type != Type || line.Fields.Count < 5) return false;
        if (line.Database!.Items.Count != 1 || !NamesDatabase(line.Database.Items[0])) return false;
        if (line.User!.Items.Count != 1 || line.User.Items[0].Value != Role || IsSpecial(line.User.Items[0])) return false;
        if (line.Netmask is not null || line.Address is null || !HbaFile.TryParseCidr(line.Address, out var a, out var p) || !line.Address.Contains('/')) return false;
        return a.Equals(Address) && p == Prefix && line.Method == "scram-sha-256";
    }

    /// <summary>
    /// True when a replication connection by this role from this network could meet <paramref name="line"/>.
    /// Where we cannot know (a group, a host name, samenet) we say it could: a line added above one
    /// it did not need to precede does no harm.
    /// </summary>
    public bool CouldBeMatchedBy(HbaLine line)
    {
        if (!line.IsRule || !line.IsTcp || line.Fields.Count < 4) return false;
        // "all" does not cover replication; for a database, all, the same* keywords and @file may.
        if (!line.Database!.Items.Any(i => ForReplication ? i.IsKeyword("replication")
                : NamesDatabase(i) || i.IsKeyword("all") || i.IsKeyword("sameuser") || i.IsKeyword("samerole") || i.IsKeyword("samegroup") || IsSpecial(i))) return false;
        if (!line.User!.Items.Any(i => i.IsKeyword("all") || i.Value == Role || IsSpecial(i))) return false;
        var address = line.Address!;
        if (address is "all" or "samehost" or "samenet") return true;
        if (!address.Contains('/') && line.Netmask is { } mask)
        {
            if (!IPAddress.TryParse(address, out var net) || !IPAddress.TryParse(mask, out var m)) return true;
            var maskPrefix = HbaFile.PrefixOfMask(m);
            return maskPrefix < 0 || Overlaps(net, maskPrefix);
        }
        if (HbaFile.TryParseCidr(address, out var network, out var prefix)) return Overlaps(network, prefix);
        return true; // a host name: matched by reverse lookup, which we cannot predict
    }

    private bool NamesDatabase(HbaItem item) => ForReplication ? item.IsKeyword("replication") : item.Value == Database && (item.Quoted || !IsKeywordName(item.Value));

    private static bool IsKeywordName(string value) => value is "all" or "sameuser" or "samerole" or "samegroup" or "replication";

    private bool Overlaps(IPAddress network, int prefix) =>
        HbaFile.Contains(network, prefix, Address) || HbaFile.Contains(Address, Prefix, network);

    // +group, @file and /regex (16+) may include our role.
    private static bool IsSpecial(HbaItem item) => !item.Quoted && item.Value.Length > 0 && item.Value[0] is '+' or '@' or '/';
}

/// <summary>The result of planning pg_hba.conf changes: the new text and what differs.</summary>
public sealed record HbaEdit(string NewText, IReadOnlyList<string> AddedLines, IReadOnlyList<string> RemovedLines)
{
    public bool Changed => AddedLines.Count > 0 || RemovedLines.Count > 0;
}

/// <summary>Plans the lines to add to pg_hba.conf, and the weak replication lines to make SCRAM. Pure: text in, text out.</summary>
public static class HbaEditor
{
    public const string Marker = "# added by PgReplication";

    /// <summary>The methods weaker than scram-sha-256 for a replication login: trust (none), md5, password (clear text).</summary>
    public static readonly IReadOnlySet<string> WeakMethods = new HashSet<string>(StringComparer.Ordinal) { "trust", "md5", "password" };

    /// <summary>
    /// A TCP line that admits replication, and only replication, with trust, md5 or password, on one line: one that
    /// <see cref="ReplicationLinesToScram"/> rewrites. (A line that also names other databases would change their
    /// logins too, and is left to the admin.)
    /// </summary>
    public static bool IsWeakReplicationLine(HbaLine line) =>
        line.IsRule && line.IsTcp && line.Database is { Items.Count: 1 } db && db.Items[0].IsKeyword("replication") &&
        line.Method is { } method && WeakMethods.Contains(method) && !line.Text.Contains('\n');

    /// <summary>
    /// The weak replication lines <paramref name="which"/> picks, with their method made scram-sha-256: the same type,
    /// database, role and addresses, the rest of the line as written. Removed holds the old lines, Added the new ones.
    /// </summary>
    public static HbaEdit ReplicationLinesToScram(string text, Func<HbaLine, bool> which) =>
        RewriteLines(text, line => IsWeakReplicationLine(line) && which(line) ? HbaFile.WithField(line, line.MethodIndex, "scram-sha-256") : null);

    /// <summary>Each line <paramref name="convert"/> gives a new text for is replaced by it (Removed the old, Added the new).</summary>
    private static HbaEdit RewriteLines(string text, Func<HbaLine, string?> convert)
    {
        ArgumentNullException.ThrowIfNull(text);
        var newline = text.Contains("\r\n") ? "\r\n" : "\n";
        var parsed = HbaFile.Parse(text);
        var lines = parsed.Select(l => l.Text).ToList();
        var added = new List<string>();
        var removed = new List<string>();
        for (var i = 0; i < parsed.Count; i++)
        {
            if (convert(parsed[i]) is not { } converted) continue;
            removed.Add(lines[i]);
            added.Add(converted);
            lines[i] = converted;
        }
        if (added.Count == 0) return new HbaEdit(text, added, removed);
        return new HbaEdit(string.Join(newline, lines) + newline, added, removed);
    }

    /// <summary>
    /// The TCP replication lines for <paramref name="role"/> (the one role, scram-sha-256; those the module writes) that
    /// are "host", made "hostssl": the same line otherwise, so a standby of the role is admitted over TLS only.
    /// </summary>
    public static HbaEdit ReplicationLinesToSsl(string text, string role) =>
        RewriteLines(text, line =>
            line.IsRule && line.Type == "host" && !line.Text.Contains('\n') && line.Method == "scram-sha-256" &&
            line.Database is { Items.Count: 1 } db && db.Items[0].IsKeyword("replication") &&
            line.User is { Items.Count: 1 } user && user.Items[0].Value == role
                ? HbaFile.WithField(line, 0, "hostssl") : null);

    /// <summary>True when the file has TCP replication lines for <paramref name="role"/> and every one of them is hostssl.</summary>
    public static bool AdmitsRoleOverSslOnly(string text, string role)
    {
        var lines = HbaFile.Parse(text).Where(l => l.IsRule && l.IsTcp && l.Database is { Items.Count: 1 } db && db.Items[0].IsKeyword("replication")
                                                   && l.User is { } u && u.Items.Any(i => i.Value == role)).ToList();
        return lines.Count > 0 && lines.All(l => l.Type == "hostssl");
    }

    /// <summary>
    /// The roles a replication line admits, out of <paramref name="replicationRoles"/> (the roles that may log in for
    /// replication): the one it names, or, for all, a +group, an @file or a /regex, every one of them (a group's
    /// members are not worked out: counting all is the safe side).
    /// </summary>
    public static IEnumerable<string> RolesAdmitted(HbaLine line, IReadOnlyCollection<string> replicationRoles)
    {
        if (line.User is not { } user) return Array.Empty<string>();
        var any = user.Items.Any(i => i.IsKeyword("all") || !i.Quoted && i.Value.Length > 0 && i.Value[0] is '+' or '@' or '/');
        return any ? replicationRoles : replicationRoles.Where(r => user.Items.Any(i => i.Value == r));
    }
    /// <summary>
    /// Puts each rule where a connection will meet it: above the first line that could match the
    /// same connection, or at the end when none could. A rule already in force changes nothing;
    /// a copy of it shadowed by an earlier line is moved up rather than duplicated.
    /// </summary>
    public static HbaEdit AddReplicationRules(string text, IEnumerable<HbaReplicationRule> rules)
    {
        ArgumentNullException.ThrowIfNull(text);
        var newline = text.Contains("\r\n") ? "\r\n" : "\n";
        var lines = HbaFile.Parse(text).Select(l => l.Text).ToList();
        var added = new List<string>();
        var removed = new List<string>();
        foreach (var rule in rules)
        {
            var parsed = HbaFile.Parse(string.Join("\n", lines) + "\n");
            var firstMatch = parsed.FirstOrDefault(rule.CouldBeMatchedBy);
            if (firstMatch is not null && rule.IsSameAs(firstMatch)) continue;

            // Copies below the first match never take effect: drop them, then add the rule above it.
            foreach (var copy in parsed.Where(rule.IsSameAs).Reverse())
            {
                removed.Add(copy.Text);
                lines.RemoveAt(IndexOf(parsed, copy));
            }
            var line = $"{rule.Line}  {Marker}";
            if (firstMatch is null)
            {
                lines.Add(line);
            }
            else
            {
                var reparsed = HbaFile.Parse(string.Join("\n", lines) + "\n");
                var at = reparsed.First(l => l.Text == firstMatch.Text && rule.CouldBeMatchedBy(l));
                lines.Insert(IndexOf(reparsed, at), line);
            }
            added.Add(line);
        }
        if (added.Count == 0 && removed.Count == 0) return new HbaEdit(text, added, removed);
        var result = string.Join(newline, lines.Select(l => l.Replace("\n", newline)));
        return new HbaEdit(result + newline, added, removed);
    }

    /// <summary>
    /// The lines this module wrote (they end in <see cref="Marker"/>) for exactly <paramref name="address"/> (one host:
    /// /32 or /128) that a removed standby had: its replication lines, and (17+, a failover candidate) the line of the same
    /// role for one database, where its slot sync worker logs in. A line without the marker is never one of them,
    /// whatever it says. Pure.
    /// </summary>
    public static IReadOnlyList<string> MarkedLinesFor(string text, IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(text);
        var host = address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
        var max = host.AddressFamily == AddressFamily.InterNetwork ? 32 : 128;
        var ours = HbaFile.Parse(text).Where(l => l.IsRule && l.IsTcp && !l.Text.Contains('\n') && l.Text.TrimEnd().EndsWith(Marker, StringComparison.Ordinal) &&
                                                  l.Database is { Items.Count: 1 } && l.User is { Items.Count: 1 } &&
                                                  l.Netmask is null && l.Address is { } a && a.Contains('/') &&
                                                  HbaFile.TryParseCidr(a, out var network, out var prefix) && prefix == max && network.Equals(host)).ToList();
        static bool IsReplication(HbaLine l) => l.Database!.Items[0].IsKeyword("replication");
        var replicationRoles = ours.Where(IsReplication).Select(l => l.User!.Items[0]).ToHashSet();
        return ours.Where(l => IsReplication(l) || replicationRoles.Contains(l.User!.Items[0])).Select(l => l.Text).ToList();
    }

    /// <summary>The text without the lines given (as the file has them, each removed once); the others kept as they are. Pure.</summary>
    public static HbaEdit RemoveLines(string text, IReadOnlySet<string> lines)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (lines.Count == 0) return new HbaEdit(text, Array.Empty<string>(), Array.Empty<string>());
        var newline = text.Contains("\r\n") ? "\r\n" : "\n";
        var kept = new List<string>();
        var removed = new List<string>();
        foreach (var line in HbaFile.Parse(text).Select(l => l.Text))
        {
            if (lines.Contains(line) && !removed.Contains(line)) removed.Add(line);
            else kept.Add(line);
        }
        if (removed.Count == 0) return new HbaEdit(text, Array.Empty<string>(), removed);
        return new HbaEdit(string.Join(newline, kept.Select(l => l.Replace("\n", newline))) + newline, Array.Empty<string>(), removed);
    }

    // Index of a parsed line in the list of line texts (a continued line is one entry).
    private static int IndexOf(IReadOnlyList<HbaLine> parsed, HbaLine line)
    {
        for (var i = 0; i < parsed.Count; i++) if (ReferenceEquals(parsed[i], line)) return i;
        throw new InvalidOperationException("Line not found.");
    }
}
