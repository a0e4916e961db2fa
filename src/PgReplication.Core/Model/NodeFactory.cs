using System.Net;

namespace PgReplication.Core.Model;

/// <summary>What New-PgNode was told about a node besides its address.</summary>
public sealed class NodeSettings
{
    public string? Name { get; init; }
    public bool Local { get; init; }
    public NetworkCredential? AdminCredential { get; init; }
    public string Database { get; init; } = "postgres";
    public string OsUser { get; init; } = "postgres";
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(10);
    public SshOptions? Ssh { get; init; }
}

/// <summary>Builds undiscovered nodes from what the user typed.</summary>
public static class NodeFactory
{
    public static PgNode Create(NodeAddress address, int defaultPort, NodeSettings settings)
    {
        Validate(settings);
        var node = new PgNode(address.Host, address.Port ?? defaultPort)
        {
            AdminCredential = settings.AdminCredential,
            Database = settings.Database,
            OsUser = settings.OsUser,
            ConnectTimeout = settings.ConnectTimeout,
        };
        if (settings.Name is not null) node.Name = settings.Name;
        // A loopback address without SSH settings (null: none given) is this machine; anything else is reached over SSH.
        node.Access = settings.Local || settings.Ssh is null && IsLoopback(address.Host)
            ? HostAccess.Local
            : HostAccess.Ssh;
        node.Ssh = node.Access == HostAccess.Ssh ? settings.Ssh ?? new SshOptions { User = settings.OsUser } : null;
        return node;
    }

    /// <summary>
    /// A detached copy of everything known about a node, for reads that run while another thread changes the node itself
    /// (a promotion changes its candidate's role and timeline while the siblings' plans are made).
    /// </summary>
    public static PgNode Copy(PgNode node)
    {
        var copy = new PgNode(node.ComputerName, node.Port);
        foreach (var property in typeof(PgNode).GetProperties())
            if (property.CanRead && property.CanWrite && property.GetIndexParameters().Length == 0) property.SetValue(copy, property.GetValue(node));
        return copy;
    }

    /// <summary>
    /// A node at another address reached the way <paramref name="template"/> is (same SSH user, key and
    /// known_hosts, no pinned fingerprint: that belongs to the template's host): e.g. the old primary a
    /// standby's primary_conninfo names.
    /// </summary>
    public static PgNode Like(PgNode template, string host, int port)
    {
        var ssh = template.Ssh is { } t
            ? new SshOptions { User = t.User, Port = t.Port, KeyPath = t.KeyPath, Credential = t.Credential, KnownHostsPath = t.KnownHostsPath,
                               AcceptNewHostKey = t.AcceptNewHostKey, UseTunnel = t.UseTunnel, ConnectTimeout = t.ConnectTimeout }
            : null;
        return Create(new NodeAddress(host, port), port, new NodeSettings
        {
            Local = template.Access == HostAccess.Local && IsLoopback(host),
            AdminCredential = template.AdminCredential, Database = template.Database, OsUser = template.OsUser,
            ConnectTimeout = template.ConnectTimeout, Ssh = ssh,
        });
    }

    /// <summary>
    /// Refuses what would break a command line or a log line: OS and SSH users go to sudo, runuser, ssh and rsync
    /// (a name starting with '-' would be read as an option), the database and the node's name to connection
    /// strings and messages.
    /// </summary>
    public static void Validate(NodeSettings settings)
    {
        foreach (var (user, what) in new[] { (settings.OsUser, "OS user"), (settings.Ssh?.User, "SSH user") })
            if (user is not null && !System.Text.RegularExpressions.Regex.IsMatch(user, @"^[A-Za-z_][A-Za-z0-9_.-]{0,31}\$?\z"))
                throw new ArgumentException($"The {what} '{Config.ConfigValues.Printable(user)}' is not a user name (letters, digits, '_', '.', '-'; not starting with '-').");
        Config.ConfigValues.EnsureSafe(settings.Database, "database name");
        if (settings.Name is { } name && name.Any(char.IsControl))
            throw new ArgumentException($"The node name '{Config.ConfigValues.Printable(name)}' contains a control character.");
    }

    public static bool IsLoopback(string host) =>
        host.Equals("localhost", StringComparison.OrdinalIgnoreCase) ||
        IPAddress.TryParse(host, out var ip) && IPAddress.IsLoopback(ip);
}
