using System.Globalization;
using System.Net;
using System.Text;
using PgReplication.Core.Config;
using PgReplication.Core.Hosts;
using PgReplication.Core.Model;
using PgReplication.Core.Sql;

namespace PgReplication.Core.Operations;

/// <summary>A refusal of Set-PgReplicationPassword, naming the node it is about.</summary>
public sealed class PasswordRotationException(string reason, PgNode? node, string message) : RefusedException(reason, message, node);

/// <summary>What one node's passfile holds, and where its standby settings say it logs in.</summary>
public sealed record PassFileFacts
{
    public required PgNode Node { get; init; }
    public required string Path { get; init; }
    public required string Text { get; init; }
    public int? Mode { get; init; }
    /// <summary>The upstream of a standby (its primary_conninfo's host and port); null on a primary.</summary>
    public (string Host, int Port)? Upstream { get; init; }
    /// <summary>The role its primary_conninfo logs in as (else its OS user).</summary>
    public string? ConninfoUser { get; init; }
    /// <summary>primary_conninfo carries a password, which libpq takes over any passfile.</summary>
    public bool PasswordInConninfo { get; init; }
}

/// <summary>Everything the rotation decides on, read before anything changes.</summary>
public sealed record PasswordRotationFacts
{
    public required PgNode Primary { get; init; }
    public required string Role { get; init; }
    /// <summary>pg_authid.rolpassword of the role; null when the role has no password.</summary>
    public string? Verifier { get; init; }
    public required IReadOnlyList<PassFileFacts> PassFiles { get; init; }
    /// <summary>Client addresses of the primary's WAL senders that log in as the role and belong to no given node.</summary>
    public IReadOnlyList<string> UnknownSenders { get; init; } = Array.Empty<string>();
}

/// <summary>One passfile to write: the new text, and the old one to put back.</summary>
public sealed record PassFileWrite(PgNode Node, string Path, string OldText, int? OldMode, string NewText, string Reason);

/// <summary>What Set-PgReplicationPassword will do: passfiles first, then the verifier.</summary>
public sealed class PasswordRotationPlan
{
    public required PgNode Primary { get; init; }
    public required string Role { get; init; }
    public required IReadOnlyList<PassFileWrite> PassFileWrites { get; init; }
    public bool SetVerifier { get; init; }
    public List<string> Steps { get; } = new();
    public bool ChangesNothing => PassFileWrites.Count == 0 && !SetVerifier;
}

/// <summary>
/// Rotates the replication role's password on a cluster: every node's passfile gets the new password, then the role a new
/// SCRAM-SHA-256 verifier (computed here; the password never reaches the server). Running WAL receivers stay connected
/// (a login is checked once, when it is made); the order keeps every step before the last undoable (docs/design.md).
/// </summary>
public static class ReplicationPassword
{
    private const string RoleQuery = """
        SELECT a.rolpassword, r.rolsuper AS we_are_super
          FROM pg_catalog.pg_authid a, pg_catalog.pg_roles r
         WHERE a.rolname = @name AND r.rolname = pg_catalog.current_user()
        """;

    private const string SendersQuery = """
        SELECT DISTINCT pg_catalog.host(s.client_addr) AS addr FROM pg_catalog.pg_stat_replication s
         WHERE s.usename = @name AND s.client_addr IS NOT NULL
        """;

    /// <summary>Reads the facts (every node at once), then decides. Nothing is changed.</summary>
    public static PasswordRotationPlan Prepare(IReadOnlyList<PgNode> nodes, NetworkCredential credential, bool force,
        IReadOnlyDictionary<PgNode, IHostShell> shells, IOperationLog log)
    {
        var role = credential.UserName;
        if (string.IsNullOrEmpty(role)) throw new ArgumentException("The replication credential has no user name.");
        SqlQuote.Identifier(role);
        ConfigValues.EnsureSafe(role, "replication role name");
        if (string.IsNullOrEmpty(credential.Password))
            throw new ArgumentException($"The new password for the role '{role}' is empty.");
        ConfigValues.EnsureSafe(credential.Password, $"password of the role '{role}'", secret: true);

        Concurrently.ForEach(nodes, n => NodeDiscovery.Discover(n, log));
        var primaries = nodes.Where(n => n.Role == NodeRole.Primary).ToList();
        if (primaries.Count != 1)
            throw new PasswordRotationException(ErrorReasons.NoSinglePrimary, nodes.FirstOrDefault(),
                primaries.Count == 0
                    ? $"None of the nodes given ({string.Join(", ", nodes.Select(n => n.Name))}) is a primary: give the cluster's primary with its standbys."
                    : $"More than one of the nodes given is a primary ({string.Join(", ", primaries.Select(n => n.Name))}): give one cluster.");
        var primary = primaries[0];
        var other = nodes.FirstOrDefault(n => n.SystemIdentifier is { } s && primary.SystemIdentifier is { } p && s != p);
        if (other is not null)
            throw new PasswordRotationException(ErrorReasons.OtherCluster, other,
                $"{other.Name} (system {other.SystemIdentifier}) is not a member of {primary.Name}'s cluster (system {primary.SystemIdentifier}).");

        var passFiles = nodes.Select(n => Concurrently.Start(() => ReadPassFile(n, shells[n]))).ToList();
        string? verifier;
        List<string> senders;
        using (var session = PgSession.Open(primary, log: log))
        {
            var row = session.Query(RoleQuery, ("name", role)).SingleOrDefault()
                ?? throw new PasswordRotationException(ErrorReasons.RoleMissing, primary, $"On {primary.Name}, the role '{role}' does not exist: create it with New-PgReplicationUser.");
            if (row.Get<bool>("we_are_super") != true)
                throw new UnauthorizedAccessException($"On {primary.Name}, the admin role is not a superuser, which changing a role's password needs.");
            verifier = row.Text("rolpassword");
            senders = session.Query(SendersQuery, ("name", role)).Select(r => r.Text("addr")!).ToList();
        }
        var facts = new PasswordRotationFacts
        {
            Primary = primary, Role = role, Verifier = verifier,
            PassFiles = passFiles.Select(p => p.Join()).ToList(),
            UnknownSenders = senders.Where(a => !nodes.Any(n => IsAddressOf(n, a))).ToList(),
        };
        return Decide(facts, credential.Password, force);
    }

    /// <summary>The decision, pure: refusals first, then what each passfile and the role need.</summary>
    public static PasswordRotationPlan Decide(PasswordRotationFacts facts, string newPassword, bool force)
    {
        var (primary, role) = (facts.Primary, facts.Role);
        if (facts.UnknownSenders.Count > 0 && !force)
            throw new PasswordRotationException(ErrorReasons.UnknownStandby, primary,
                $"On {primary.Name}, standbys at {string.Join(", ", facts.UnknownSenders)} stream as '{role}' but were not given: after the rotation " +
                "they could not log in again. Give every node of the cluster, or -Force to rotate without them.");
        foreach (var f in facts.PassFiles.Where(f => f.Upstream is not null && f.ConninfoUser == role && f.PasswordInConninfo))
            throw new PasswordRotationException(ErrorReasons.PasswordInConninfo, f.Node,
                $"On {f.Node.Name}, primary_conninfo holds the replication password itself, which libpq takes over any passfile: " +
                $"run Enable-PgHotStandby {f.Node.Name} first (it moves the password to the passfile), then rotate.");

        var members = facts.PassFiles.Select(f => (f.Node.ComputerName, f.Node.Port)).ToList();
        var writes = new List<PassFileWrite>();
        foreach (var f in facts.PassFiles)
        {
            var text = PassFile.WithPassword(f.Text, members, role, newPassword);
            // A standby's own upstream entry: first in the file, so no wildcard line above it wins (as HotStandby writes it).
            if (f.Upstream is { } up && f.ConninfoUser == role && PassFile.Find(text, up.Host, up.Port, role) != newPassword)
                text = PassFile.Upsert(text, up.Host, up.Port, "*", role, newPassword);
            var open = f.Mode is { } m && (m & 0x3F) != 0;
            if (text == f.Text && !open) continue;
            writes.Add(new PassFileWrite(f.Node, f.Path, f.Text, f.Mode, text, text == f.Text
                ? $"write {f.Path} on {f.Node.Name} again with mode 0600 (its group or other users had access, and libpq ignores such a passfile)"
                : $"write the new password of '{role}' into {f.Path} on {f.Node.Name} (0600)"));
        }
        var plan = new PasswordRotationPlan
        {
            Primary = primary, Role = role, PassFileWrites = writes,
            SetVerifier = !ScramVerifier.Matches(facts.Verifier, newPassword),
        };
        plan.Steps.AddRange(writes.Select(w => w.Reason));
        if (plan.SetVerifier) plan.Steps.Add($"give the role '{role}' on {primary.Name} a new SCRAM-SHA-256 verifier of the new password");
        return plan;
    }

    /// <summary>
    /// Passfiles first, all at once, then the verifier in one statement. A passfile that cannot be written, or a verifier
    /// that cannot be set, puts every passfile back as it was: until the verifier changes, nothing has.
    /// </summary>
    public static IReadOnlyList<PgNode> Apply(PasswordRotationPlan plan, NetworkCredential credential,
        IReadOnlyDictionary<PgNode, IHostShell> shells, IOperationLog log)
    {
        var written = new List<PassFileWrite>();
        var writes = plan.PassFileWrites.Select(w => (Write: w, Task: Concurrently.Start(() =>
        {
            HostFiles.Write(shells[w.Node], w.Path, Encoding.UTF8.GetBytes(w.NewText), "0600", w.Node.OsUser);
            return true;
        }))).ToList();
        Exception? failure = null;
        foreach (var (write, task) in writes)
        {
            try { task.Join(); written.Add(write); log.Verbose($"{write.Node.Name}: {write.Reason}."); }
            catch (Exception ex) when (ex is HostCommandException or ArgumentException) { failure ??= ex; }
        }
        if (failure is not null)
            throw new InvalidOperationException(PutBack(written, shells, log, $"A passfile could not be written ({failure.Message})"), failure);

        if (plan.SetVerifier)
        {
            try
            {
                using var session = PgSession.Open(plan.Primary, log: log);
                ReplicationUser.ExecuteUnlogged(session,
                    $"ALTER ROLE {SqlQuote.Identifier(plan.Role)} PASSWORD {SqlQuote.Literal(ScramVerifier.Compute(credential.Password))}",
                    $"ALTER ROLE {SqlQuote.Identifier(plan.Role)} PASSWORD ...");
                log.Verbose($"{plan.Primary.Name}: the role '{plan.Role}' has a new SCRAM-SHA-256 verifier.");
            }
            catch (Exception ex) when (ex is PgConnectionException or PgQueryException)
            {
                throw new InvalidOperationException(PutBack(written, shells, log, $"The role '{plan.Role}' on {plan.Primary.Name} kept its password ({ex.Message})"), ex);
            }
        }
        if (plan.ChangesNothing) log.Verbose($"The role '{plan.Role}' and every passfile already have the new password; nothing changed.");
        var nodes = shells.Keys.ToList();
        foreach (var node in nodes) node.ReplicationCredential = new NetworkCredential(credential.UserName, credential.Password);
        return nodes;
    }

    private static string PutBack(IReadOnlyList<PassFileWrite> written, IReadOnlyDictionary<PgNode, IHostShell> shells, IOperationLog log, string failed)
    {
        var left = new List<string>();
        foreach (var w in written)
        {
            try
            {
                var mode = w.OldMode is { } m ? "0" + Convert.ToString(m, 8) : "0600";
                HostFiles.Write(shells[w.Node], w.Path, Encoding.UTF8.GetBytes(w.OldText), mode, w.Node.OsUser);
            }
            catch (HostCommandException ex) { left.Add($"{w.Node.Name} ({ex.Message})"); }
        }
        if (left.Count == 0)
        {
            if (written.Count > 0) log.Warning($"{failed}: every passfile written was put back; nothing changed.");
            return $"{failed}; nothing changed (every passfile written was put back).";
        }
        return $"{failed}, and these passfiles could not be put back and hold the new password: {string.Join("; ", left)}. " +
               "Run Set-PgReplicationPassword again with the same credential to finish, or with the old one to undo.";
    }

    private static PassFileFacts ReadPassFile(PgNode node, IHostShell shell)
    {
        var settings = node.Role == NodeRole.Standby ? StandbyFollow.RecoverySettingsFile(node, shell) : new Dictionary<string, string>();
        var conninfo = settings.GetValueOrDefault("primary_conninfo") is { Length: > 0 } text ? Conninfo.Parse(text) : null;
        var path = conninfo?.GetValueOrDefault("passfile") is { Length: > 0 } named ? named : HostFiles.HomeOf(shell, node.OsUser) + "/.pgpass";
        var (content, mode) = HostFiles.ReadTextAndMode(shell, path, node.OsUser);
        (string, int)? upstream = conninfo?.GetValueOrDefault("host") is { Length: > 0 } host
            ? (host, conninfo.TryGetValue("port", out var p) && int.TryParse(p, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : PgNode.DefaultPort)
            : null;
        return new PassFileFacts
        {
            Node = node, Path = path, Text = content, Mode = mode, Upstream = upstream,
            ConninfoUser = conninfo is null ? null : conninfo.GetValueOrDefault("user") is { Length: > 0 } u ? u : node.OsUser,
            PasswordInConninfo = conninfo?.GetValueOrDefault("password") is { Length: > 0 },
        };
    }

    /// <summary>True when a WAL sender's client address is this node's (its address, or one its name resolves to).</summary>
    internal static bool IsAddressOf(PgNode node, string address)
    {
        if (!IPAddress.TryParse(address, out var ip)) return false;
        if (IPAddress.TryParse(node.ComputerName, out var own)) return own.Equals(ip) || IPAddress.IsLoopback(own) && IPAddress.IsLoopback(ip);
        try { return Dns.GetHostAddresses(node.ComputerName).Any(a => (a.IsIPv4MappedToIPv6 ? a.MapToIPv4() : a).Equals(ip)); }
        catch (System.Net.Sockets.SocketException) { return false; }
    }
}
