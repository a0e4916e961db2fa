using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using PgReplication.Core.Config;
using PgReplication.Core.Hosts;
using PgReplication.Core.Model;
using PgReplication.Core.Sql;

namespace PgReplication.Core.Operations;

/// <summary>A hand-over refused before anything changed; <see cref="Reason"/> is the stable part of the ErrorId.</summary>
public sealed class AutoFailoverRefusedException(string reason, string message, PgNode? node = null) : RefusedException(reason, message, node);

public sealed class AutoFailoverRequest
{
    public required IReadOnlyList<PgNode> Nodes { get; init; }
    public string? Scope { get; init; }
    public required NetworkCredential RestApi { get; init; }
    public NetworkCredential? Replication { get; init; }
    public int TtlSeconds { get; init; } = 30;
    public bool InstallPackages { get; init; }
    public int LoopWaitSeconds { get; init; } = 10;
    public int RetryTimeoutSeconds { get; init; } = 10;
    public bool SynchronousMode { get; init; }
    public bool FailsafeMode { get; init; }
    /// <summary>Patroni's primary_start_timeout; null: <see cref="HaSettings.DefaultPrimaryStartTimeout"/> for the mode.</summary>
    public int? PrimaryStartTimeoutSeconds { get; init; }
    public TimeSpan Timeout { get; init; } = TimeSpan.FromMinutes(3);
}

/// <summary>One node's readings for a hand-over.</summary>
public sealed class HaNodeFacts
{
    public required PgNode Node { get; init; }
    public required HaMember Member { get; init; }
    public required ulong SystemIdentifier { get; init; }
    public IReadOnlyList<string> MissingPrograms { get; init; } = Array.Empty<string>();
    public NetworkCredential? ReplicationInUse { get; init; }
    public IReadOnlyList<string> Slots { get; init; } = Array.Empty<string>();
    public IReadOnlyDictionary<string, string> CommandLineSettings { get; init; } = new Dictionary<string, string>();
    /// <summary>The primary's synchronous_standby_names (Set-PgMasterConfig -SynchronousStandby); null on a standby.</summary>
    public string? SynchronousStandbyNames { get; init; }
    public string? CaCertificate { get; init; }
    public string? CaKey { get; init; }
    public bool EtcdRunning { get; init; }
    public bool PatroniRunning { get; init; }
    /// <summary>The host runs systemd: etcd and Patroni become units (started at boot) instead of supervised daemons.</summary>
    public bool HasSystemd { get; init; }
}

/// <summary>What the hand-over will do (what -WhatIf lists) and the facts it was decided from.</summary>
public sealed class AutoFailoverPlan
{
    public required HaFacts Facts { get; init; }
    public required IReadOnlyList<HaNodeFacts> Nodes { get; init; }
    public required PemPair Authority { get; init; }
    public required bool NewAuthority { get; init; }
    /// <summary>The primary had synchronous_standby_names of its own: Patroni takes the setting over once it names its synchronous standbys.</summary>
    public bool HandsOverSynchronousNames { get; init; }
    public List<string> Steps { get; } = new();
    /// <summary>Per member, the replication lines its pg_hba.conf lacks for the members' addresses (<see cref="AutoFailover.Prepare"/>).</summary>
    public List<PrimaryConfigPlan> Admissions { get; } = new();
    public HaNodeFacts Primary => Nodes.Single(n => n.Member.IsPrimary);
}

/// <summary>
/// Hands a running streaming cluster to Patroni with an etcd cluster as its consensus store, and back. Facts first (every
/// node at once), then <see cref="Decide"/> (no I/O) checks them and lists the steps; only then is anything written.
/// </summary>
public static class AutoFailover
{
    public const string RequiredPackages = "patroni etcd-server etcd-client";

    public static AutoFailoverPlan Prepare(AutoFailoverRequest request, IOperationLog log)
    {
        var nodes = request.Nodes.ToList();
        // etcd runs on the first three nodes given.
        var plan = Decide(request, Concurrently.Map(nodes, n => ReadNode(n, request.Scope, nodes.IndexOf(n) < 3, log)));
        PlanMemberAdmission(plan, log);
        return plan;
    }

    /// <summary>
    /// The replication lines each member's pg_hba.conf lacks so that it admits every member, its own address included.
    /// Patroni re-clones a member from the leader (pg_basebackup, when pg_rewind cannot rejoin it), and the copy takes
    /// the leader's pg_hba.conf: a first primary's file admits its standbys but not itself, so once such a copy leads,
    /// the old leader could never stream from it. Read-only; a file with errors refuses the hand-over before any change.
    /// </summary>
    private static void PlanMemberAdmission(AutoFailoverPlan plan, IOperationLog log)
    {
        var addresses = plan.Nodes.Select(n => n.Member.Address).Distinct(StringComparer.OrdinalIgnoreCase).ToList();
        var role = plan.Facts.Replication.UserName;
        // A member Patroni runs already was admitted by the hand-over that started it.
        var admissions = Concurrently.Map(plan.Nodes.Where(n => !n.PatroniRunning).ToList(),
            n => PrimaryConfig.PlanFollowerAdmission(n.Node, addresses, role, log));
        foreach (var admission in admissions.Where(a => a.Changes.Count > 0))
        {
            plan.Admissions.Add(admission);
            plan.Steps.AddRange(admission.Changes.Select(c => $"{admission.Node.Name}: {c.Description} (every member admits every member: a copy of its file admits them all)"));
        }
    }

    /// <summary>The checks and the steps, from the facts alone.</summary>
    public static AutoFailoverPlan Decide(AutoFailoverRequest request, IReadOnlyList<HaNodeFacts> nodes)
    {
        foreach (var n in nodes.Where(n => n.MissingPrograms.Count > 0 && !request.InstallPackages))
            throw new AutoFailoverRefusedException(ErrorReasons.PackageMissing,
                $"{n.Node.Name} lacks {string.Join(", ", n.MissingPrograms)}: install them there with 'apt-get install {RequiredPackages}' (Debian 12 has Patroni 3.0.2 and etcd 3.4), or run again with -InstallPackage.", n.Node);
        // Patroni 3.0 sends its REST password Latin-1 encoded to the other members (urllib3) but checks it UTF-8 encoded:
        // with a non-ASCII password its own calls (POST /failsafe) are refused "not authenticated".
        if (request.RestApi.Password.Any(c => c > 127))
            throw new AutoFailoverRefusedException(ErrorReasons.RestApiPasswordNotAscii,
                "The REST API password (-RestApiCredential) has a character outside ASCII: Patroni 3.0 encodes it one way when its members call each other and checks it another, so they could not (failsafe mode would demote the primary). Choose a password of ASCII characters.", nodes.FirstOrDefault()?.Node);
        var primaries = nodes.Where(n => n.Member.IsPrimary).ToList();
        if (primaries.Count == 0)
            throw new AutoFailoverRefusedException(ErrorReasons.NoPrimary, $"None of {string.Join(", ", nodes.Select(n => n.Node.Name))} is a primary: give the primary and its standbys.", nodes.FirstOrDefault()?.Node);
        if (primaries.Count > 1)
            throw new AutoFailoverRefusedException(ErrorReasons.TwoPrimaries, $"{string.Join(" and ", primaries.Select(p => p.Node.Name))} are all primaries: a cluster handed to Patroni has one.", primaries[1].Node);
        var primary = primaries[0];
        foreach (var n in nodes.Where(n => n.SystemIdentifier != primary.SystemIdentifier))
            throw new AutoFailoverRefusedException(ErrorReasons.OtherCluster, $"{n.Node.Name} is a copy of another cluster (system identifier {n.SystemIdentifier}, not {primary.Node.Name}'s {primary.SystemIdentifier}).", n.Node);
        var duplicate = nodes.GroupBy(n => n.Member.Name).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
            throw new AutoFailoverRefusedException(ErrorReasons.DuplicateMember, $"{string.Join(" and ", duplicate.Select(n => n.Node.Name))} would have the same member name '{duplicate.Key}': give them distinct -Name values.", duplicate.First().Node);

        // A primary that waits for synchronous standbys keeps that promise under Patroni: synchronous mode, as many as it waits for.
        var syncCount = SynchronousStandbyNames.RequiredCount(primary.SynchronousStandbyNames);
        var synchronous = request.SynchronousMode || syncCount > 0;
        var settings = new HaSettings
        {
            Scope = request.Scope ?? AutoFailoverConfig.DefaultScope(primary.SystemIdentifier),
            TtlSeconds = request.TtlSeconds, LoopWaitSeconds = request.LoopWaitSeconds, RetryTimeoutSeconds = request.RetryTimeoutSeconds,
            SynchronousMode = synchronous, SynchronousNodeCount = Math.Max(1, syncCount),
            FailsafeMode = request.FailsafeMode,
            PrimaryStartTimeoutSeconds = request.PrimaryStartTimeoutSeconds ?? HaSettings.DefaultPrimaryStartTimeout(synchronous),
        };
        if (settings.TimingProblem() is { } timing)
            throw new AutoFailoverRefusedException(ErrorReasons.BadTiming, $"Patroni's timings do not fit: {timing}.", primary.Node);
        var replication = request.Replication ?? nodes.Select(n => n.ReplicationInUse).FirstOrDefault(c => c is not null)
            ?? throw new AutoFailoverRefusedException(ErrorReasons.NoReplicationRole,
                "No standby tells which replication role it uses (no primary_conninfo with a password in its passfile): give -Credential.", primary.Node);
        var superuser = primary.Node.AdminCredential
            ?? throw new AutoFailoverRefusedException(ErrorReasons.NoReplicationRole, $"{primary.Node.Name} carries no admin credential for Patroni's superuser: give -Credential to New-PgNode.", primary.Node);

        var members = nodes.Select(n => n.Member).ToList();
        var names = members.Select(m => m.Name).ToHashSet(StringComparer.Ordinal);
        var facts = new HaFacts
        {
            Members = members, Settings = settings, Superuser = superuser, Replication = replication, RestApi = request.RestApi,
            Parameters = primary.CommandLineSettings,
            PermanentSlots = primary.Slots.Where(s => !names.Contains(s)).ToList(),
        };
        var existing = nodes.FirstOrDefault(n => n.CaCertificate is not null && n.CaKey is not null);
        var authority = existing is null ? HaCertificates.NewAuthority(settings.Scope) : new PemPair(existing.CaCertificate!, existing.CaKey!);
        var plan = new AutoFailoverPlan { Facts = facts, Nodes = nodes, Authority = authority, NewAuthority = existing is null, HandsOverSynchronousNames = syncCount > 0 };

        foreach (var n in nodes.Where(n => n.MissingPrograms.Count > 0))
            plan.Steps.Add($"{n.Node.Name}: install {RequiredPackages} (apt-get, as root through sudo -n)");
        plan.Steps.Add(existing is null ? $"make a certificate authority for {settings.Scope} (ECDSA P-256)" : $"keep the certificate authority found on {existing.Node.Name}");
        foreach (var n in nodes)
        {
            var m = n.Member;
            var files = new List<string> { AutoFailoverConfig.CaFile(m), AutoFailoverConfig.CaKeyFile(m), AutoFailoverConfig.CertFile(m), AutoFailoverConfig.ChainFile(m), AutoFailoverConfig.KeyFile(m), AutoFailoverConfig.PatroniConfigFile(m), AutoFailoverConfig.SupervisorFile(m) };
            if (m.IsDcsMember) files.Add(AutoFailoverConfig.EtcdConfigFile(m));
            if (!(n.PatroniRunning || n.EtcdRunning && m.IsDcsMember))
                plan.Steps.Add($"{n.Node.Name}: write {string.Join(", ", files)} (0600, folder {m.HaDirectory} 0700, owner {n.Node.OsUser}); remove {AutoFailoverConfig.DynamicConfigCacheFile(m)} if an earlier hand-over left it");
            var how = n.HasSystemd
                ? $"as the systemd unit {AutoFailoverConfig.SystemdUnitName(settings.Scope, "etcd")} (/etc/systemd/system, enabled)"
                : "supervised (no systemd on the host)";
            if (m.IsDcsMember)
                plan.Steps.Add(n.EtcdRunning ? $"{n.Node.Name}: etcd member {m.Name} runs already" : $"{n.Node.Name}: start etcd member {m.Name} on {AutoFailoverConfig.EtcdClientUrl(m.Address, settings)} (TLS, client certificates), {how}");
            if (n.HasSystemd && !n.PatroniRunning)
                plan.Steps.Add($"{n.Node.Name}: Patroni as the systemd unit {AutoFailoverConfig.SystemdUnitName(settings.Scope, "patroni")} (enabled: it starts at boot)");
        }
        plan.Steps.Add($"set {AutoFailoverConfig.MarkerSetting} (ALTER SYSTEM) on every node: the cmdlets then know Patroni manages the cluster");
        plan.Steps.Add(primary.PatroniRunning ? $"{primary.Node.Name}: Patroni runs already" : $"{primary.Node.Name}: start Patroni, which takes the leader lock and keeps the running primary");
        foreach (var n in nodes.Where(n => !n.Member.IsPrimary))
            plan.Steps.Add(n.PatroniRunning ? $"{n.Node.Name}: Patroni runs already" : $"{n.Node.Name}: start Patroni, which adopts the running standby (restart if its settings differ)");
        if (plan.HandsOverSynchronousNames)
            plan.Steps.Add($"synchronous mode ({settings.SynchronousNodeCount} synchronous standby(s)), since {primary.Node.Name} has synchronous_standby_names '{primary.SynchronousStandbyNames}': " +
                "once Patroni names its synchronous standbys, ALTER SYSTEM RESET synchronous_standby_names on every node (Patroni sets it from then on)");
        else if (settings.SynchronousMode)
            plan.Steps.Add("synchronous mode (-SynchronousMode): Patroni names a synchronous standby and promotes only it");
        foreach (var n in nodes.Where(n => n.Member.ApplyDelay > TimeSpan.Zero))
            plan.Steps.Add($"{n.Node.Name}: a delayed standby (recovery_min_apply_delay {StandbyReplay.Describe(n.Member.ApplyDelay)}): kept in Patroni's recovery_conf and tagged nofailover, so Patroni never promotes it");
        plan.Steps.Add(settings.PrimaryStartTimeoutSeconds == 0
            ? "primary_start_timeout 0: a primary whose postgres crashes is failed over at once, not restarted in place" +
              (settings.SynchronousMode ? " (synchronous mode: the promoted standby has every acknowledged commit)" : " (asynchronous: the commits no standby received yet are lost)")
            : $"primary_start_timeout {settings.PrimaryStartTimeoutSeconds} s: a primary whose postgres crashes is restarted in place (crash recovery) for up to that long before a failover");
        if (settings.FailsafeMode)
            plan.Steps.Add("failsafe_mode: while etcd has no quorum the primary keeps taking writes as long as it reaches every member's REST API");
        if (facts.PermanentSlots.Count > 0)
            plan.Steps.Add($"keep the slots {string.Join(", ", facts.PermanentSlots)} as Patroni permanent slots");
        return plan;
    }

    public static void Apply(AutoFailoverPlan plan, AutoFailoverRequest request, IOperationLog log)
    {
        var facts = plan.Facts;
        var settings = facts.Settings;
        var marker = AutoFailoverConfig.MarkerValue(settings, plan.Authority.CertificateDer());
        var shells = plan.Nodes.ToDictionary(n => n, n => HostShells.Open(n.Node, log));
        try
        {
            Concurrently.ForEach(plan.Nodes.Where(n => n.MissingPrograms.Count > 0), n =>
            {
                shells[n].Run(new HostCommand("env", new[] { "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "--no-install-recommends" }
                    .Concat(RequiredPackages.Split(' ')).ToArray()) { RunAs = "root", Timeout = TimeSpan.FromMinutes(10) }).EnsureSuccess();
                log.Verbose($"{n.Node.Name}: installed {RequiredPackages}.");
            });
            // Before Patroni can re-clone anyone: each file copied from a member then admits every member.
            Concurrently.ForEach(plan.Admissions, admission => PrimaryConfig.Apply(admission, admission.Changes, restart: false, request.Timeout, log));
            Concurrently.ForEach(plan.Nodes, n =>
            {
                if (n.PatroniRunning || (n.EtcdRunning && n.Member.IsDcsMember)) return;
                WriteFiles(shells[n], n, plan, log);
            });
            var dcs = plan.Nodes.Where(n => n.Member.IsDcsMember).ToList();
            foreach (var n in dcs)
            {
                var m = n.Member;
                if (n.HasSystemd)
                {
                    if (!n.EtcdRunning)
                        HaDaemons.StartUnit(shells[n], AutoFailoverConfig.SystemdUnitName(settings.Scope, "etcd"), AutoFailoverConfig.SystemdUnit(m, "etcd", n.Node.OsUser, settings.Scope));
                }
                else HaDaemons.Start(shells[n], n.Node.OsUser, m.HaDirectory, "etcd", "etcd", "--config-file", AutoFailoverConfig.EtcdConfigFile(m));
                log.Verbose($"{n.Node.Name}: etcd member {m.Name} started.");
            }
            WaitForEtcd(shells[dcs[0]], dcs[0], dcs.Select(d => d.Member).ToList(), settings, request.Timeout, log);

            Concurrently.ForEach(plan.Nodes, n =>
            {
                using var session = PgSession.Open(n.Node, log: log);
                // A custom setting must exist in the session (a placeholder) before ALTER SYSTEM accepts it.
                session.Execute($"SET {AutoFailoverConfig.MarkerSetting} = ''");
                session.Execute($"ALTER SYSTEM SET {AutoFailoverConfig.MarkerSetting} = {SqlQuote.Literal(marker)}");
                session.Execute("SELECT pg_catalog.pg_reload_conf()");
            });

            var primary = plan.Primary;
            StartPatroni(shells[primary], primary, settings.Scope);
            using (var api = new PatroniApi(primary.Member.Address, settings.RestApiPort, plan.Authority.CertificateDer()))
                WaitFor(() => api.Probe("/primary") == 200, request.Timeout, $"{primary.Node.Name} did not become Patroni's leader", log);
            log.Verbose($"{primary.Node.Name}: Patroni holds the leader lock.");
            foreach (var n in plan.Nodes.Where(n => !n.Member.IsPrimary)) StartPatroni(shells[n], n, settings.Scope);
            using (var api = new PatroniApi(primary.Member.Address, settings.RestApiPort, plan.Authority.CertificateDer()))
                WaitFor(() =>
                {
                    var cluster = api.Cluster();
                    return plan.Nodes.All(n => cluster.Members.Any(m => m.Name == n.Member.Name && m.State is "running" or "streaming"));
                }, request.Timeout, "not every member runs under Patroni", log);
            Concurrently.ForEach(plan.Nodes, n => WaitUntilPatroniWroteSettings(n.Node, request.Timeout, log));
            if (plan.HandsOverSynchronousNames) HandOverSynchronousNames(plan, request.Timeout, log);
        }
        finally
        {
            foreach (var s in shells.Values) s.Dispose();
        }
    }

    /// <summary>
    /// synchronous_standby_names set with ALTER SYSTEM (postgresql.auto.conf, copied to every standby) overrides the value
    /// Patroni writes in postgresql.conf: it goes, on every node, once Patroni has named its synchronous standbys, so the
    /// primary never stops waiting for one in between.
    /// </summary>
    private static void HandOverSynchronousNames(AutoFailoverPlan plan, TimeSpan timeout, IOperationLog log)
    {
        var primary = plan.Primary;
        using (var api = new PatroniApi(primary.Member.Address, plan.Facts.Settings.RestApiPort, plan.Authority.CertificateDer()))
            WaitFor(() => api.Cluster().Members.Any(m => m.Role == "sync_standby"), timeout, "Patroni named no synchronous standby", log);
        Concurrently.ForEach(plan.Nodes, n =>
        {
            using var session = PgSession.Open(n.Node, log: log);
            session.Execute("ALTER SYSTEM RESET synchronous_standby_names");
            session.Execute("SELECT pg_catalog.pg_reload_conf()");
        });
        log.Verbose("synchronous_standby_names is Patroni's now (reset in postgresql.auto.conf on every node).");
    }

    /// <summary>Hands the cluster back: maintenance mode (so Patroni leaves PostgreSQL running), Patroni and etcd stopped, the marker reset.</summary>
    public static IReadOnlyList<string> Disable(IReadOnlyList<PgNode> nodes, TimeSpan timeout, IOperationLog log)
    {
        var steps = new List<string>();
        var markers = Concurrently.Map(nodes, n => ReadMarker(n, log));
        var marker = markers.FirstOrDefault(m => m is not null);
        var shells = nodes.ToDictionary(n => n, n => HostShells.Open(n, log));
        try
        {
            var dirs = nodes.ToDictionary(n => n, n => HostFiles.HomeOf(shells[n], n.OsUser) + "/autofailover");
            if (marker is not null)
            {
                var credential = nodes.Select(n => RestApiCredential(shells[n], n, dirs[n])).FirstOrDefault(c => c is not null);
                var paused = false;
                foreach (var n in nodes)
                {
                    try
                    {
                        using var api = new PatroniApi(n.ComputerName, marker.ApiPort, marker.CaCertificate, credential);
                        api.PatchConfig(new JsonObject { ["pause"] = true });
                        // Every member reads the pause at its next loop; until then a member's Patroni would stop its server on exit.
                        WaitFor(() => api.Cluster().Paused, timeout, "Patroni did not enter maintenance mode", log);
                        paused = true;
                        break;
                    }
                    catch (PatroniApiException ex) { log.Verbose($"{n.Name}: {ex.Message}"); }
                }
                if (!paused) throw new InvalidOperationException("No member's Patroni REST API took the maintenance mode: PostgreSQL would be stopped with Patroni, so nothing was stopped.");
                Thread.Sleep(TimeSpan.FromSeconds(LoopWait(nodes, shells, dirs) + 1));
                steps.Add("Patroni put into maintenance mode");
            }
            var units = marker is null ? null : nodes.ToDictionary(n => n, n => HaDaemons.HasSystemd(shells[n], n.OsUser));
            Concurrently.ForEach(nodes, n =>
            {
                if (units?[n] == true) HaDaemons.StopUnit(shells[n], AutoFailoverConfig.SystemdUnitName(marker!.Scope, "patroni"), timeout);
                HaDaemons.Stop(shells[n], n.OsUser, dirs[n], "patroni", timeout);
            });
            steps.Add("Patroni stopped on " + string.Join(", ", nodes.Select(n => n.Name)));
            Concurrently.ForEach(nodes, n =>
            {
                if (units?[n] == true) HaDaemons.StopUnit(shells[n], AutoFailoverConfig.SystemdUnitName(marker!.Scope, "etcd"), timeout);
                HaDaemons.Stop(shells[n], n.OsUser, dirs[n], "etcd", timeout);
            });
            steps.Add("etcd stopped");
            Concurrently.ForEach(nodes, n =>
            {
                // etcd's data goes: a later hand-over makes a new etcd cluster, which a stale member would refuse to join.
                shells[n].Run(new HostCommand("rm", "-rf", "--", dirs[n] + "/etcd-data") { RunAs = n.OsUser, Timeout = TimeSpan.FromSeconds(60) }).EnsureSuccess();
                using var session = PgSession.Open(n, log: log);
                session.Execute($"SET {AutoFailoverConfig.MarkerSetting} = ''");
                session.Execute($"ALTER SYSTEM RESET {AutoFailoverConfig.MarkerSetting}");
                session.Execute("SELECT pg_catalog.pg_reload_conf()");
            });
            steps.Add($"{AutoFailoverConfig.MarkerSetting} reset; PostgreSQL runs on as Patroni left it (its configuration files and passfile stay in the autofailover folder)");
            return steps;
        }
        finally
        {
            foreach (var s in shells.Values) s.Dispose();
        }
    }

    /// <summary>The marker of the node (null when Patroni does not manage it, or it does not answer).</summary>
    public static PatroniMarker? ReadMarker(PgNode node, IOperationLog log, TimeSpan? timeout = null)
    {
        try
        {
            using var session = PgSession.Open(node, log: log, connectTimeout: timeout, commandTimeout: timeout, pooled: true);
            return ReadMarker(session);
        }
        catch (Exception ex) when (ex is PgConnectionException or PgQueryException) { return null; }
    }

    public static PatroniMarker? ReadMarker(PgSession session) =>
        AutoFailoverConfig.ParseMarker(session.Scalar<string>($"SELECT pg_catalog.current_setting('{AutoFailoverConfig.MarkerSetting}', true)"));

    /// <summary>The REST API's login from the member's own configuration file (0600, read as its owner over the node's shell).</summary>
    public static NetworkCredential? RestApiCredential(IHostShell shell, PgNode node, string haDirectory)
    {
        var text = HostFiles.ReadTextOrEmpty(shell, haDirectory + "/patroni.yml", node.OsUser);
        return text.Length == 0 ? null : RestApiCredentialOf(text);
    }

    /// <summary>The REST API's login a member's configuration gives; null when it gives none.</summary>
    public static NetworkCredential? RestApiCredentialOf(string patroniConfig)
    {
        var auth = JsonNode.Parse(patroniConfig)?["restapi"]?["authentication"];
        return auth?["username"] is JsonValue u && auth["password"] is JsonValue p ? new NetworkCredential((string)u!, (string)p!) : null;
    }

    private static int LoopWait(IReadOnlyList<PgNode> nodes, Dictionary<PgNode, IHostShell> shells, Dictionary<PgNode, string> dirs)
    {
        foreach (var n in nodes)
        {
            var text = HostFiles.ReadTextOrEmpty(shells[n], dirs[n] + "/patroni.yml", n.OsUser);
            if (text.Length > 0 && JsonNode.Parse(text)?["bootstrap"]?["dcs"]?["loop_wait"] is JsonValue v && v.TryGetValue<int>(out var seconds)) return seconds;
        }
        return 10;
    }

    /// <summary>One node's facts for a hand-over (or a later join): its server's settings and directories, its host's programs and files.</summary>
    internal static HaNodeFacts ReadNode(PgNode node, string? requestedScope, bool isDcsMember, IOperationLog log)
    {
        using var shell = HostShells.Open(node, log);
        using var session = PgSession.Open(node, log: log, via: HostShells.SqlEndpoint(node, shell));
        NodeDiscovery.Discover(node, session, log);
        var row = session.Query("""
            SELECT pg_catalog.host(pg_catalog.inet_server_addr()) AS address,
                   pg_catalog.current_setting('listen_addresses') AS listen_addresses,
                   pg_catalog.current_setting('unix_socket_directories') AS sockets,
                   pg_catalog.current_setting('ident_file') AS ident_file,
                   pg_catalog.current_setting('primary_slot_name', true) AS slot,
                   pg_catalog.current_setting('cluster_name') AS cluster_name,
                   pg_catalog.current_setting('synchronous_standby_names') AS sync_names,
                   pg_catalog.current_setting('recovery_min_apply_delay', true) AS apply_delay
            """).Single();
        var address = row.Text("address") ?? throw new ArgumentException($"{node.Name} was reached over a Unix socket: give its network address, which etcd and Patroni listen on.");
        var home = HostFiles.HomeOf(shell, node.OsUser);
        var dir = home + "/autofailover";
        var missing = shell.Run(new HostCommand("sh", "-c", "for p in patroni etcd etcdctl; do command -v \"$p\" >/dev/null 2>&1 || echo \"$p\"; done")
            { RunAs = node.OsUser, Timeout = TimeSpan.FromSeconds(30) }).EnsureSuccess().StandardOutput
            .Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var isPrimary = node.Role == NodeRole.Primary;
        var slots = isPrimary
            ? session.Query("SELECT s.slot_name::text AS name FROM pg_catalog.pg_replication_slots s WHERE s.slot_type = 'physical'").Select(r => r.Text("name")!).ToList()
            : new List<string>();
        var commandLine = isPrimary
            ? session.Query("SELECT s.name, pg_catalog.current_setting(s.name) AS value FROM pg_catalog.pg_settings s WHERE s.name = ANY(@names)",
                ("names", AutoFailoverConfig.CommandLineSettings.ToArray())).ToDictionary(r => r.Text("name")!, r => r.Text("value")!)
            : new Dictionary<string, string>();
        var configFile = node.ConfigFile ?? node.DataDirectory + "/postgresql.conf";
        var member = new HaMember
        {
            // A standby's member name is the slot it streams with, so Patroni's slot on the leader is the one it already has.
            Name = !isPrimary && row.Text("slot") is { Length: > 0 } slot ? slot : SlotNames.FromNodeName(node.Name), Address = address, Port = node.Port, IsPrimary = isPrimary,
            DataDirectory = node.DataDirectory!, ConfigFile = configFile, ConfigDirectory = configFile[..configFile.LastIndexOf('/')],
            HbaFile = node.HbaFile!, IdentFile = row.Text("ident_file"), BinDirectory = ServerController.BinDirectory(node, shell),
            HaDirectory = dir, ClusterName = row.Text("cluster_name") is { Length: > 0 } cn ? cn : null, ListenAddresses = row.Text("listen_addresses")!, SocketDirectories = row.Text("sockets"),
            IsDcsMember = isDcsMember,
            ApplyDelay = isPrimary ? TimeSpan.Zero : StandbyReplay.ParseDelay(row.Text("apply_delay")),
        };
        var ca = HostFiles.ReadTextOrEmpty(shell, AutoFailoverConfig.CaFile(member), node.OsUser);
        var systemd = HaDaemons.HasSystemd(shell, node.OsUser);
        var scope = requestedScope ?? AutoFailoverConfig.DefaultScope(node.SystemIdentifier ?? 0);
        var caKey = ca.Length > 0 ? HostFiles.ReadTextOrEmpty(shell, AutoFailoverConfig.CaKeyFile(member), node.OsUser) : "";
        return new HaNodeFacts
        {
            Node = node, Member = member, SystemIdentifier = node.SystemIdentifier ?? 0, MissingPrograms = missing,
            ReplicationInUse = isPrimary ? null : StandbyFollow.CurrentReplicationCredential(node, shell),
            Slots = slots, CommandLineSettings = commandLine, SynchronousStandbyNames = isPrimary ? row.Text("sync_names") : null,
            CaCertificate = ca.Length > 0 ? ca : null, CaKey = caKey.Length > 0 ? caKey : null,
            EtcdRunning = systemd ? HaDaemons.IsUnitActive(shell, node.OsUser, AutoFailoverConfig.SystemdUnitName(scope, "etcd")) : HaDaemons.IsRunning(shell, node.OsUser, dir, "etcd"),
            PatroniRunning = systemd ? HaDaemons.IsUnitActive(shell, node.OsUser, AutoFailoverConfig.SystemdUnitName(scope, "patroni")) : HaDaemons.IsRunning(shell, node.OsUser, dir, "patroni"),
            HasSystemd = systemd,
        };
    }

    private static void WriteFiles(IHostShell shell, HaNodeFacts n, AutoFailoverPlan plan, IOperationLog log) =>
        WriteMemberFiles(shell, n.Node, n.Member, plan.Authority, AutoFailoverConfig.PatroniConfig(plan.Facts, n.Member),
            n.Member.IsDcsMember ? AutoFailoverConfig.EtcdConfig(plan.Facts, n.Member) : null, log);

    /// <summary>A member's folder (0700), certificate (signed by the cluster's CA), configuration files (0600) and supervisor.</summary>
    internal static void WriteMemberFiles(IHostShell shell, PgNode node, HaMember m, PemPair authority, string patroniConfig, string? etcdConfig, IOperationLog log)
    {
        var user = node.OsUser;
        shell.Run(new HostCommand("mkdir", "-p", "-m", "0700", "--", m.HaDirectory) { RunAs = user, Timeout = TimeSpan.FromSeconds(30) }).EnsureSuccess();
        shell.Run(new HostCommand("chmod", "0700", "--", m.HaDirectory) { RunAs = user, Timeout = TimeSpan.FromSeconds(30) }).EnsureSuccess();
        var names = new List<string> { m.Address };
        if (!IPAddress.TryParse(node.ComputerName, out _)) names.Add(node.ComputerName);
        var cert = HaCertificates.NewMember(authority, m.Name, names);
        void Write(string path, string text, string mode) => HostFiles.Write(shell, path, Encoding.UTF8.GetBytes(text), mode, user);
        Write(AutoFailoverConfig.CaFile(m), authority.Certificate, "0644");
        Write(AutoFailoverConfig.CaKeyFile(m), authority.PrivateKey, "0600");
        Write(AutoFailoverConfig.CertFile(m), cert.Certificate, "0644");
        Write(AutoFailoverConfig.ChainFile(m), cert.Certificate.TrimEnd() + "\n" + authority.Certificate, "0644");
        Write(AutoFailoverConfig.KeyFile(m), cert.PrivateKey, "0600");
        Write(AutoFailoverConfig.PatroniConfigFile(m), patroniConfig, "0600");
        Write(AutoFailoverConfig.SupervisorFile(m), AutoFailoverConfig.SupervisorScript, "0700");
        if (etcdConfig is not null) Write(AutoFailoverConfig.EtcdConfigFile(m), etcdConfig, "0600");
        // Patroni caches its dynamic configuration in the data directory and, finding an empty etcd, prefers that cache to
        // bootstrap.dcs: after Disable-PgAutoFailover it would come back paused, with the old timings and synchronous mode.
        shell.Run(new HostCommand("rm", "-f", "--", AutoFailoverConfig.DynamicConfigCacheFile(m)) { RunAs = user, Timeout = TimeSpan.FromSeconds(30) }).EnsureSuccess();
        log.Verbose($"{node.Name}: wrote the certificates and configuration files in {m.HaDirectory}.");
    }

    internal static void StartPatroni(IHostShell shell, HaNodeFacts n, string scope)
    {
        if (n.HasSystemd)
        {
            if (!n.PatroniRunning)
                HaDaemons.StartUnit(shell, AutoFailoverConfig.SystemdUnitName(scope, "patroni"), AutoFailoverConfig.SystemdUnit(n.Member, "patroni", n.Node.OsUser, scope));
            return;
        }
        HaDaemons.Start(shell, n.Node.OsUser, n.Member.HaDirectory, "patroni", "patroni", AutoFailoverConfig.PatroniConfigFile(n.Member));
    }

    /// <summary>The recovery settings Patroni moves out of postgresql.auto.conf (the list its configuration validator keeps).</summary>
    private static readonly string[] PatroniRecoverySettings =
    {
        "archive_cleanup_command", "primary_conninfo", "primary_slot_name", "promote_trigger_file", "recovery_end_command",
        "recovery_min_apply_delay", "recovery_target", "recovery_target_action", "recovery_target_inclusive", "recovery_target_lsn",
        "recovery_target_name", "recovery_target_time", "recovery_target_timeline", "recovery_target_xid", "restore_command",
    };

    /// <summary>
    /// Waits until Patroni has written <paramref name="node"/>'s settings. From 12, Patroni moves the recovery settings out
    /// of postgresql.auto.conf by writing that file again from what it read, and on a standby it does so only at its first
    /// loop, after it reports the member running: an ALTER SYSTEM made in between would be undone by that write. Once the
    /// file holds no recovery setting, Patroni never writes it again. (Before 12 they live in recovery.conf: nothing to wait for.)
    /// </summary>
    internal static void WaitUntilPatroniWroteSettings(PgNode node, TimeSpan timeout, IOperationLog log)
    {
        const string left = "SELECT count(*) FROM pg_catalog.pg_file_settings WHERE name = ANY(@names) AND sourcefile LIKE '%/postgresql.auto.conf'";
        string? problem = null;
        WaitFor(() =>
        {
            try
            {
                using var session = PgSession.Open(node, log: log);
                var count = session.Scalar<long>(left, ("names", PatroniRecoverySettings));
                problem = count == 0 ? null : $"postgresql.auto.conf still holds {count} recovery setting(s)";
                return count == 0;
            }
            // Patroni restarts a standby whose settings differ from its own: the server may be down for a moment.
            catch (PgConnectionException ex) { problem = ex.Message; return false; }
        }, timeout, $"Patroni had not written {node.Name}'s settings (see ~{node.OsUser}/autofailover/patroni.log there)", log, () => problem);
    }

    private static void WaitForEtcd(IHostShell shell, HaNodeFacts n, IReadOnlyList<HaMember> dcs, HaSettings settings, TimeSpan timeout, IOperationLog log)
    {
        var m = n.Member;
        var endpoints = string.Join(',', dcs.Select(d => AutoFailoverConfig.EtcdClientUrl(d.Address, settings)));
        var command = new HostCommand("etcdctl", "--endpoints", endpoints, "--cacert", AutoFailoverConfig.CaFile(m), "--cert", AutoFailoverConfig.CertFile(m),
            "--key", AutoFailoverConfig.KeyFile(m), "--dial-timeout", "2s", "--command-timeout", "3s", "endpoint", "health")
        { RunAs = n.Node.OsUser, Timeout = TimeSpan.FromSeconds(20) };
        CommandResult? last = null;
        WaitFor(() => (last = shell.Run(command)).Succeeded, timeout,
            "the etcd cluster did not become healthy", log, () => last?.StandardError.Trim());
        log.Verbose($"etcd cluster healthy: {endpoints}.");
    }

    internal static void WaitFor(Func<bool> condition, TimeSpan timeout, string what, IOperationLog log, Func<string?>? detail = null)
    {
        var deadline = DateTime.UtcNow + timeout;
        Exception? lastError = null;
        while (true)
        {
            try { if (condition()) return; }
            catch (Exception ex) when (ex is PatroniApiException or HostCommandException) { lastError = ex; }
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"After {timeout.TotalSeconds:0} s, {what}{(detail?.Invoke() is { Length: > 0 } d ? ": " + d : lastError is null ? "" : ": " + lastError.Message)}.");
            Thread.Sleep(200);
        }
    }
}
