using System.Net;
using System.Text;
using PgReplication.Core.Config;
using PgReplication.Core.Hosts;
using PgReplication.Core.Model;
using PgReplication.Core.Sql;

namespace PgReplication.Core.Operations;

/// <summary>
/// Where a node's TLS files live: next to its data directory (&lt;data&gt;.tls), never in it, since pg_basebackup and
/// pg_rewind copy the data directory and a standby must keep its own key and certificate.
/// </summary>
public static class TlsFiles
{
    public static string Directory(PgNode node) =>
        (node.DataDirectory ?? throw new InvalidOperationException($"The data directory of {node.Name} is not known.")).TrimEnd('/') + ".tls";
    public static string RootCertificatePath(PgNode node) => Directory(node) + "/root.crt";
    public static string CertificatePath(PgNode node) => Directory(node) + "/server.crt";
    public static string KeyPath(PgNode node) => Directory(node) + "/server.key";

    /// <summary>
    /// The root.crt next to a server's ssl_cert_file when that is Enable-PgReplicationSsl's (&lt;data&gt;.tls/server.crt);
    /// null for a certificate of the user's own (Debian's snakeoil, for example).
    /// </summary>
    public static string? RootCertificateBeside(string? certificateFile) =>
        certificateFile is { } f && f.StartsWith('/') && f.EndsWith(".tls/server.crt", StringComparison.Ordinal)
            ? f[..^"server.crt".Length] + "root.crt" : null;

    /// <summary>The cluster's CA certificate (public) as the node's root.crt, in its TLS directory (0700, the OS user's).</summary>
    public static void WriteRootCertificate(IHostShell shell, PgNode node, string pem)
    {
        shell.Run(new HostCommand("sh", "-c", "umask 077; mkdir -p \"$1\"; chmod 0700 \"$1\"", "sh", Directory(node)) { RunAs = node.OsUser, Timeout = TimeSpan.FromSeconds(30) }).EnsureSuccess();
        HostFiles.Write(shell, RootCertificatePath(node), Encoding.ASCII.GetBytes(pem), "0644", node.OsUser);
    }

    /// <summary>True when Enable-PgReplicationSsl gave this node's host the cluster's CA.</summary>
    public static bool HasRootCertificate(PgNode node, IHostShell shell) => HasRootCertificate(node, new HostFileReads(shell, node.OsUser));

    /// <summary>The same, from the files a plan reads on the node's host (read once there).</summary>
    public static bool HasRootCertificate(PgNode node, HostFileReads files) =>
        node.DataDirectory is not null && files.Exists(RootCertificatePath(node));
}

/// <summary>A refusal of Enable-PgReplicationSsl, naming the node it is about.</summary>
public sealed class TlsException(string reason, PgNode? node, string message, Exception? inner = null) : RefusedException(reason, message, node, inner);

/// <summary>What one node has, read before anything changes.</summary>
public sealed record TlsNodeFacts
{
    public required PgNode Node { get; init; }
    public string? CertificatePem { get; init; }
    public string? RootPem { get; init; }
    public bool KeyExists { get; init; }
    /// <summary>ssl, ssl_cert_file, ssl_key_file as the server has them.</summary>
    public required IReadOnlyDictionary<string, string?> Settings { get; init; }
    public required string HbaText { get; init; }
    /// <summary>A standby's primary_conninfo, parsed; null on a primary.</summary>
    public IReadOnlyDictionary<string, string>? Conninfo { get; init; }
}

/// <summary>What one node needs.</summary>
public sealed class TlsNodePlan
{
    public required PgNode Node { get; init; }
    public bool NewCertificate { get; init; }
    public bool WriteRoot { get; init; }
    public required Dictionary<string, string> Settings { get; init; }
    public HbaEdit? Hba { get; init; }
    public string? HbaOldText { get; init; }
    /// <summary>A standby whose primary_conninfo gets sslmode=verify-full and the CA; its upstream among the nodes given.</summary>
    public PgNode? VerifyUpstream { get; init; }
    public bool ChangesNothing => !NewCertificate && !WriteRoot && Settings.Count == 0 && Hba is not { Changed: true } && VerifyUpstream is null;
}

public sealed class TlsPlan
{
    public required IReadOnlyList<TlsNodePlan> Nodes { get; init; }
    public required PgNode Primary { get; init; }
    public required string Role { get; init; }
    public List<string> Steps { get; } = new();
    public bool ChangesNothing => Nodes.All(n => n.ChangesNothing);
}

/// <summary>
/// TLS end to end for a cluster: each node a key made on its host and a certificate for its name signed by the cluster's
/// CA, ssl on (a reload), then each standby's primary_conninfo sslmode=verify-full with the CA (a reload from 13, streaming
/// checked, put back on failure), then the role's replication lines hostssl. In that order, a standby is never refused:
/// it speaks TLS before its line demands it.
/// </summary>
public static class Tls
{
    private static readonly string[] SettingNames = { "ssl", "ssl_cert_file", "ssl_key_file" };

    public static TlsPlan Prepare(IReadOnlyList<PgNode> nodes, CertificateAuthority ca, IReadOnlyDictionary<PgNode, IHostShell> shells, IOperationLog log)
    {
        Concurrently.ForEach(nodes, n => NodeDiscovery.Discover(n, log));
        var primaries = nodes.Where(n => n.Role == NodeRole.Primary).ToList();
        if (primaries.Count != 1)
            throw new TlsException(ErrorReasons.NoSinglePrimary, nodes.FirstOrDefault(),
                $"Enable-PgReplicationSsl needs the cluster's one primary among the nodes given ({string.Join(", ", nodes.Select(n => n.Name))}); {primaries.Count} are primaries.");
        var primary = primaries[0];
        if (nodes.FirstOrDefault(n => n.SystemIdentifier != primary.SystemIdentifier) is { } other)
            throw new TlsException(ErrorReasons.OtherCluster, other, $"{other.Name} (system {other.SystemIdentifier}) is not a member of {primary.Name}'s cluster (system {primary.SystemIdentifier}).");
        var missing = nodes.Select(n => Concurrently.Start(() =>
            shells[n].Run(new HostCommand("openssl", "version") { Timeout = TimeSpan.FromSeconds(30) }).ExitCode == 0 ? null : n)).ToList();
        foreach (var m in missing) if (m.Join() is { } without)
            throw new TlsException(ErrorReasons.OpensslMissing, without, $"On {without.Name}, openssl is not installed: the node's key is made on its own host with it. Install it (apt-get install openssl).");
        // A standby not given would keep streaming, but never verify its primary, and meet hostssl lines unprepared.
        using (var session = PgSession.Open(primary, log: log))
        {
            var unknown = session.Query("SELECT DISTINCT pg_catalog.host(s.client_addr) AS addr FROM pg_catalog.pg_stat_replication s WHERE s.client_addr IS NOT NULL")
                .Select(r => r.Text("addr")!).Where(a => !nodes.Any(n => ReplicationPassword.IsAddressOf(n, a))).ToList();
            if (unknown.Count > 0)
                throw new TlsException(ErrorReasons.UnknownStandby, primary,
                    $"On {primary.Name}, standbys at {string.Join(", ", unknown)} stream but were not given: give every node of the cluster, so each gets TLS before its lines demand it.");
        }
        var facts = Concurrently.Map(nodes, n => ReadFacts(n, shells[n], log));
        return Decide(facts, primary, ca, nodes.FirstOrDefault(n => n.ReplicationCredential is not null)?.ReplicationCredential?.UserName);
    }

    /// <summary>The decision: what each node lacks. Pure but for the CA's check of a certificate.</summary>
    public static TlsPlan Decide(IReadOnlyList<TlsNodeFacts> facts, PgNode primary, CertificateAuthority ca, string? role)
    {
        role ??= facts.Select(f => f.Conninfo?.GetValueOrDefault("user")).FirstOrDefault(u => !string.IsNullOrEmpty(u))
            ?? throw new TlsException(ErrorReasons.NoReplicationUser, primary, $"The replication role of {primary.Name}'s cluster is not known: no standby given has a user in its primary_conninfo.");
        var plans = new List<TlsNodePlan>();
        var steps = new List<string>();
        foreach (var f in facts)
        {
            var node = f.Node;
            var newCert = !f.KeyExists || !ca.Covers(f.CertificatePem, node.ComputerName);
            var wanted = new Dictionary<string, string>
            {
                ["ssl"] = "on", ["ssl_cert_file"] = TlsFiles.CertificatePath(node), ["ssl_key_file"] = TlsFiles.KeyPath(node),
            };
            var settings = wanted.Where(w => f.Settings.GetValueOrDefault(w.Key) != w.Value).ToDictionary(w => w.Key, w => w.Value);
            PgNode? upstream = null;
            if (f.Conninfo is { } ci && !(ci.GetValueOrDefault("sslmode") == "verify-full" && ci.GetValueOrDefault("sslrootcert") == TlsFiles.RootCertificatePath(node)))
            {
                var host = ci.GetValueOrDefault("host");
                var port = ci.TryGetValue("port", out var p) && int.TryParse(p, out var n) ? n : PgNode.DefaultPort;
                upstream = facts.Select(x => x.Node).FirstOrDefault(x => x.ComputerName == host && x.Port == port)
                    ?? throw new TlsException(ErrorReasons.UpstreamNotGiven, node, $"{node.Name} streams from {host}:{port}, which is not among the nodes given: give every node of the cluster.");
            }
            var hba = HbaEditor.ReplicationLinesToSsl(f.HbaText, role);
            var plan = new TlsNodePlan
            {
                Node = node, NewCertificate = newCert, WriteRoot = f.RootPem != ca.Pem, Settings = settings,
                Hba = hba.Changed ? hba : null, HbaOldText = f.HbaText, VerifyUpstream = upstream,
            };
            plans.Add(plan);
            if (newCert) steps.Add($"{node.Name}: make a key (0600, postgres) in {TlsFiles.Directory(node)} and a certificate for {node.ComputerName} signed by the cluster's CA");
            if (plan.WriteRoot) steps.Add($"{node.Name}: write the CA certificate to {TlsFiles.RootCertificatePath(node)}");
            foreach (var (k, v) in settings) steps.Add($"{node.Name}: set {k} = '{v}' and reload");
        }
        foreach (var p in plans.Where(p => p.VerifyUpstream is not null))
            steps.Add($"{p.Node.Name}: primary_conninfo with sslmode=verify-full and sslrootcert={TlsFiles.RootCertificatePath(p.Node)}, then streaming checked");
        foreach (var p in plans.Where(p => p.Hba is not null))
            foreach (var line in p.Hba!.AddedLines) steps.Add($"{p.Node.Name}: make hostssl in {p.Node.HbaFile}: '{line.Trim()}'");
        var result = new TlsPlan { Nodes = plans, Primary = primary, Role = role };
        result.Steps.AddRange(steps);
        return result;
    }

    public static IReadOnlyList<PgNode> Apply(TlsPlan plan, CertificateAuthority ca, string caFile, int validDays,
        IReadOnlyDictionary<PgNode, IHostShell> shells, TimeSpan timeout, IOperationLog log)
    {
        // 1. Certificates and ssl on, every node; each proven by a verify-full login from here.
        foreach (var p in plan.Nodes) ServeTls(p, ca, caFile, validDays, shells[p.Node], log);
        // 2. Each standby verifies its upstream (HotStandby puts one back as it was if it does not stream then).
        foreach (var p in plan.Nodes.Where(p => p.VerifyUpstream is not null))
        {
            var standby = p.Node;
            var shell = shells[standby];
            var replication = StandbyFollow.CurrentReplicationCredential(standby, shell)
                ?? throw new TlsException(ErrorReasons.NoReplicationCredential, standby, $"{standby.Name}'s replication password is in neither its primary_conninfo nor its passfile.");
            var request = new HotStandbyRequest
            {
                Standby = standby, Primary = p.VerifyUpstream!, Replication = replication, SlotName = standby.SlotName,
                SslRootCert = TlsFiles.RootCertificatePath(standby), Timeout = timeout,
            };
            HotStandby.Apply(request, HotStandby.Prepare(request, shell, log), shell, log);
            log.Verbose($"{standby.Name}: streams from {p.VerifyUpstream!.Name} with sslmode=verify-full.");
        }
        // 3. Only TLS is admitted for the role's replication lines, on every node (each may serve as primary later).
        foreach (var p in plan.Nodes.Where(p => p.Hba is not null))
        {
            using var session = PgSession.Open(p.Node, log: log);
            PrimaryConfig.WriteCheckedHba(p.Node, shells[p.Node], session, p.HbaOldText!, p.Hba!.NewText, log);
            session.Scalar<bool>("SELECT pg_catalog.pg_reload_conf()");
            log.Verbose($"{p.Node.Name}: {p.Hba.AddedLines.Count} replication line(s) of '{plan.Role}' are hostssl.");
        }
        if (plan.ChangesNothing) log.Verbose($"{plan.Primary.Name}'s cluster already replicates over TLS with verify-full; nothing changed.");
        return plan.Nodes.Select(p => p.Node).ToList();
    }

    /// <summary>The node's key (made on its host), certificate and the CA, then ssl on and a reload, proven by a verify-full login.</summary>
    private static void ServeTls(TlsNodePlan p, CertificateAuthority ca, string caFile, int validDays, IHostShell shell, IOperationLog log)
    {
        var node = p.Node;
        var dir = TlsFiles.Directory(node);
        if (p.NewCertificate)
        {
            // The key never leaves the host: openssl makes it under umask 077 and prints only the request.
            const string script =
                "set -e; umask 077; mkdir -p \"$1\"; chmod 0700 \"$1\"; " +
                "openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout \"$1/server.key.new\" -subj /CN=pgreplication 2>/dev/null";
            var csr = shell.Run(new HostCommand("sh", "-c", script, "sh", dir) { RunAs = node.OsUser, Timeout = TimeSpan.FromSeconds(60) })
                .EnsureSuccess().StandardOutput;
            var certificate = ca.Sign(csr, node.ComputerName, validDays);
            HostFiles.Write(shell, dir + "/server.crt.new", Encoding.ASCII.GetBytes(certificate), "0644", node.OsUser);
            shell.Run(new HostCommand("sh", "-c", "set -e; mv -f \"$1/server.key.new\" \"$1/server.key\"; mv -f \"$1/server.crt.new\" \"$1/server.crt\"", "sh", dir)
            { RunAs = node.OsUser, Timeout = TimeSpan.FromSeconds(30) }).EnsureSuccess();
            log.Verbose($"{node.Name}: a new key and a certificate for {node.ComputerName} in {dir}.");
        }
        if (p.WriteRoot) TlsFiles.WriteRootCertificate(shell, node, ca.Pem);
        if (p.Settings.Count == 0 && !p.NewCertificate) return;
        using (var session = PgSession.Open(node, log: log))
        {
            foreach (var (name, value) in p.Settings) session.Execute($"ALTER SYSTEM SET {name} = {SqlQuote.Literal(value)}");
            session.Scalar<bool>("SELECT pg_catalog.pg_reload_conf()");
        }
        // A reload is a signal: the server takes the files a moment later.
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (true)
        {
            try
            {
                using var probe = PgSession.Open(node, log: NullOperationLog.Instance, verifyFullWith: caFile, connectTimeout: TimeSpan.FromSeconds(5));
                if (probe.Scalar<bool>("SELECT s.ssl FROM pg_catalog.pg_stat_ssl s WHERE s.pid = pg_catalog.pg_backend_pid()")) break;
            }
            catch (PgConnectionException ex) when (DateTime.UtcNow < deadline) { _ = ex; }
            catch (PgConnectionException ex)
            {
                throw new TlsException(ErrorReasons.TlsNotServed, node,
                    $"{node.Name} does not accept a verify-full TLS login for {node.ComputerName} after ssl was turned on ({ex.Message}); see its server log. " +
                    "Its replication lines were not changed, and its standbys do not use TLS yet.", ex);
            }
            Thread.Sleep(200);
        }
        log.Verbose($"{node.Name}: serves TLS with a certificate for {node.ComputerName} (checked with verify-full).");
    }

    private static TlsNodeFacts ReadFacts(PgNode node, IHostShell shell, IOperationLog log)
    {
        var cert = Concurrently.Start(() => HostFiles.ReadTextOrEmpty(shell, TlsFiles.CertificatePath(node), node.OsUser));
        var root = Concurrently.Start(() => HostFiles.ReadTextOrEmpty(shell, TlsFiles.RootCertificatePath(node), node.OsUser));
        var key = Concurrently.Start(() => HostFiles.Exists(shell, TlsFiles.KeyPath(node), node.OsUser));
        var hba = Concurrently.Start(() => HostFiles.ReadText(shell, node.HbaFile ?? throw new InvalidOperationException($"The hba_file of {node.Name} is not known."), node.OsUser));
        var conninfo = node.Role == NodeRole.Standby && StandbyFollow.RecoverySettingsFile(node, shell).GetValueOrDefault("primary_conninfo") is { Length: > 0 } text
            ? Sql.Conninfo.Parse(text) : null;
        Dictionary<string, string?> settings;
        using (var session = PgSession.Open(node, log: log))
            settings = session.Query("SELECT s.name, s.setting FROM pg_catalog.pg_settings s WHERE s.name = ANY(@n)", ("n", SettingNames))
                .ToDictionary(r => r.Text("name")!, r => r.Text("setting"));
        return new TlsNodeFacts
        {
            Node = node, CertificatePem = cert.Join() is { Length: > 0 } c ? c : null, RootPem = root.Join() is { Length: > 0 } r ? r : null,
            KeyExists = key.Join(), Settings = settings, HbaText = hba.Join(), Conninfo = conninfo,
        };
    }
}
