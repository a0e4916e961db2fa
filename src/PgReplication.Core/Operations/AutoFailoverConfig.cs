using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace PgReplication.Core.Operations;

/// <summary>One database node as Patroni will run it: what discovery found on its host and server.</summary>
public sealed class HaMember
{
    /// <summary>Patroni's member name and etcd's: the module's slot name of the node, so Patroni's slots are the ones the standbys already use.</summary>
    public required string Name { get; init; }
    /// <summary>The address the server is reached at (inet_server_addr()): etcd and the REST API listen on it.</summary>
    public required string Address { get; init; }
    public required int Port { get; init; }
    public required bool IsPrimary { get; init; }
    public required string DataDirectory { get; init; }
    /// <summary>Where postgresql.conf is: /etc/postgresql/&lt;major&gt;/&lt;cluster&gt; on Debian, else the data directory.</summary>
    public required string ConfigDirectory { get; init; }
    public required string ConfigFile { get; init; }
    public required string HbaFile { get; init; }
    public string? IdentFile { get; init; }
    public required string BinDirectory { get; init; }
    /// <summary>The folder that holds everything of the hand-over on the host (&lt;home of postgres&gt;/autofailover, 0700).</summary>
    public required string HaDirectory { get; init; }
    public required string ListenAddresses { get; init; }
    public string? SocketDirectories { get; init; }
    /// <summary>cluster_name as the server has it (Debian: "15/main"); Patroni would otherwise set its scope, which needs a restart.</summary>
    public string? ClusterName { get; init; }
    /// <summary>Runs an etcd member.</summary>
    public bool IsDcsMember { get; init; }
    /// <summary>
    /// recovery_min_apply_delay of a delayed standby (zero otherwise): Patroni keeps it (recovery_conf, since it strips
    /// recovery settings from postgresql.auto.conf) and the member is tagged nofailover, so it is never the one promoted.
    /// </summary>
    public TimeSpan ApplyDelay { get; init; }
}

/// <summary>Timing and ports: Patroni's ttl, loop_wait and retry_timeout (loop_wait + 2 x retry_timeout must fit in ttl).</summary>
public sealed class HaSettings
{
    public required string Scope { get; init; }
    public int TtlSeconds { get; init; } = 30;
    public int LoopWaitSeconds { get; init; } = 10;
    public int RetryTimeoutSeconds { get; init; } = 10;
    public int RestApiPort { get; init; } = 8008;
    public int EtcdClientPort { get; init; } = 2379;
    public int EtcdPeerPort { get; init; } = 2380;
    public bool SynchronousMode { get; init; }
    /// <summary>How many synchronous standbys the primary waits for in synchronous mode (synchronous_node_count).</summary>
    public int SynchronousNodeCount { get; init; } = 1;
    /// <summary>
    /// Patroni's failsafe_mode: while etcd has no quorum, the primary keeps taking writes as long as every member's REST API
    /// answers it (instead of being demoted); a member it cannot reach demotes it as before.
    /// </summary>
    public bool FailsafeMode { get; init; }
    /// <summary>
    /// Patroni's primary_start_timeout: how long a primary whose postgres crashed is restarted in place before a failover.
    /// </summary>
    public int PrimaryStartTimeoutSeconds { get; init; } = DefaultPrimaryStartTimeout(synchronousMode: false);

    /// <summary>
    /// 0 in synchronous mode: a synchronous standby has every acknowledged commit, so failing over at once loses nothing
    /// and skips the crash recovery in place (seconds, and the write outage with it). Patroni's 300 otherwise: the crashed
    /// asynchronous primary holds the tail no standby received, which an immediate failover would throw away.
    /// </summary>
    public static int DefaultPrimaryStartTimeout(bool synchronousMode) => synchronousMode ? 0 : 300;

    /// <summary>A standby further behind than this is not promoted by Patroni (maximum_lag_on_failover).</summary>
    public long MaximumLagOnFailoverBytes { get; init; } = 1024 * 1024;

    /// <summary>Null when the timings are consistent, else why not (Patroni would silently change them).</summary>
    public string? TimingProblem() =>
        LoopWaitSeconds + 2 * RetryTimeoutSeconds > TtlSeconds
            ? $"loop_wait ({LoopWaitSeconds} s) + 2 x retry_timeout ({RetryTimeoutSeconds} s) must not exceed ttl ({TtlSeconds} s)"
            : null;
}

/// <summary>Everything the files of a hand-over are made from: gathered first, then turned into text by <see cref="AutoFailoverConfig"/> with no I/O.</summary>
public sealed class HaFacts
{
    public required IReadOnlyList<HaMember> Members { get; init; }
    public required HaSettings Settings { get; init; }
    public required NetworkCredential Superuser { get; init; }
    public required NetworkCredential Replication { get; init; }
    public required NetworkCredential RestApi { get; init; }
    /// <summary>Settings Patroni passes on the postgres command line (so they override every file), as the primary runs them now.</summary>
    public IReadOnlyDictionary<string, string> Parameters { get; init; } = new Dictionary<string, string>();
    /// <summary>Physical slots on the primary that belong to no member: kept by Patroni as permanent slots.</summary>
    public IReadOnlyList<string> PermanentSlots { get; init; } = Array.Empty<string>();
}

/// <summary>The text of the files a hand-over writes (JSON, which YAML readers take as it is) and the marker the cmdlets read.</summary>
public static class AutoFailoverConfig
{
    /// <summary>The custom setting (ALTER SYSTEM) that tells every cmdlet Patroni manages the node: scope, REST port and the CA.</summary>
    public const string MarkerSetting = "pgreplication.patroni";

    /// <summary>Settings Patroni 3.0 puts on the postgres command line; their current values go into its dynamic configuration so nothing changes.</summary>
    public static readonly IReadOnlyList<string> CommandLineSettings = new[]
    {
        "max_connections", "max_wal_senders", "max_replication_slots", "max_prepared_transactions", "max_locks_per_transaction",
        "max_worker_processes", "track_commit_timestamp", "wal_level", "wal_keep_size",
    };

    public static string CaFile(HaMember m) => m.HaDirectory + "/ca.crt";
    public static string CaKeyFile(HaMember m) => m.HaDirectory + "/ca.key";
    public static string CertFile(HaMember m) => m.HaDirectory + "/node.crt";
    /// <summary>The node's certificate followed by the CA's: the REST API sends both, so a client that pins the CA can check the chain.</summary>
    public static string ChainFile(HaMember m) => m.HaDirectory + "/node-chain.crt";
    public static string KeyFile(HaMember m) => m.HaDirectory + "/node.key";
    public static string EtcdConfigFile(HaMember m) => m.HaDirectory + "/etcd.yml";
    public static string EtcdDataDirectory(HaMember m) => m.HaDirectory + "/etcd-data";
    public static string PatroniConfigFile(HaMember m) => m.HaDirectory + "/patroni.yml";
    public static string PatroniPassFile(HaMember m) => m.HaDirectory + "/pgpass";
    public static string SupervisorFile(HaMember m) => m.HaDirectory + "/supervise.sh";
    /// <summary>Where Patroni caches the dynamic configuration it last saw (in the data directory).</summary>
    public static string DynamicConfigCacheFile(HaMember m) => m.DataDirectory + "/patroni.dynamic.json";

    public static string EtcdClientUrl(string address, HaSettings s) => $"https://{UrlHost(address)}:{s.EtcdClientPort.ToString(CultureInfo.InvariantCulture)}";
    public static string EtcdPeerUrl(string address, HaSettings s) => $"https://{UrlHost(address)}:{s.EtcdPeerPort.ToString(CultureInfo.InvariantCulture)}";
    public static string RestApiUrl(string address, HaSettings s) => $"https://{UrlHost(address)}:{s.RestApiPort.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>etcd's configuration file: TLS with client certificates on both the client and the peer port, listening on the host's own address only.</summary>
    public static string EtcdConfig(HaFacts facts, HaMember m)
    {
        var s = facts.Settings;
        var dcs = facts.Members.Where(x => x.IsDcsMember).ToList();
        JsonObject Tls() => new()
        {
            ["cert-file"] = CertFile(m), ["key-file"] = KeyFile(m), ["trusted-ca-file"] = CaFile(m), ["client-cert-auth"] = true,
        };
        var config = new JsonObject
        {
            ["name"] = m.Name,
            ["data-dir"] = EtcdDataDirectory(m),
            ["listen-client-urls"] = EtcdClientUrl(m.Address, s),
            ["advertise-client-urls"] = EtcdClientUrl(m.Address, s),
            ["listen-peer-urls"] = EtcdPeerUrl(m.Address, s),
            ["initial-advertise-peer-urls"] = EtcdPeerUrl(m.Address, s),
            ["initial-cluster"] = string.Join(',', dcs.Select(x => $"{x.Name}={EtcdPeerUrl(x.Address, s)}")),
            ["initial-cluster-state"] = "new",
            ["initial-cluster-token"] = s.Scope,
            // Patroni's etcd3 client speaks the JSON gateway; a config file does not get the command line's default (on).
            ["enable-grpc-gateway"] = true,
            ["client-transport-security"] = Tls(),
            ["peer-transport-security"] = Tls(),
        };
        return Serialize(config);
    }

    /// <summary>Patroni's configuration of one member (written 0600: it holds the superuser's, the replication role's and the REST API's passwords).</summary>
    public static string PatroniConfig(HaFacts facts, HaMember m)
    {
        var s = facts.Settings;
        var dcs = facts.Members.Where(x => x.IsDcsMember).ToList();
        var dynamicParameters = new JsonObject();
        foreach (var (name, value) in facts.Parameters.OrderBy(p => p.Key, StringComparer.Ordinal)) dynamicParameters[name] = value;
        // pg_rewind needs wal_log_hints (or checksums); Patroni turns it on, which takes effect at the next restart.
        dynamicParameters["wal_log_hints"] = "on";
        var slots = new JsonObject();
        foreach (var slot in facts.PermanentSlots.OrderBy(x => x, StringComparer.Ordinal)) slots[slot] = new JsonObject { ["type"] = "physical" };

        var localParameters = new JsonObject { ["hba_file"] = m.HbaFile };
        if (m.IdentFile is { } ident) localParameters["ident_file"] = ident;
        if (m.SocketDirectories is { } sockets) localParameters["unix_socket_directories"] = sockets;
        if (m.ClusterName is { } clusterName) localParameters["cluster_name"] = clusterName;
        var config = new JsonObject
        {
            ["scope"] = s.Scope,
            ["name"] = m.Name,
            ["restapi"] = new JsonObject
            {
                ["listen"] = $"{UrlHost(m.Address)}:{s.RestApiPort.ToString(CultureInfo.InvariantCulture)}",
                ["connect_address"] = $"{UrlHost(m.Address)}:{s.RestApiPort.ToString(CultureInfo.InvariantCulture)}",
                ["certfile"] = ChainFile(m),
                ["keyfile"] = KeyFile(m),
                ["cafile"] = CaFile(m),
                ["authentication"] = new JsonObject { ["username"] = facts.RestApi.UserName, ["password"] = facts.RestApi.Password },
            },
            // Patroni's own calls to the other members' REST APIs (and patronictl) check their certificates against the CA.
            ["ctl"] = new JsonObject { ["cacert"] = CaFile(m), ["certfile"] = CertFile(m), ["keyfile"] = KeyFile(m) },
            ["etcd3"] = new JsonObject
            {
                ["hosts"] = new JsonArray(dcs.Select(x => (JsonNode)$"{UrlHost(x.Address)}:{s.EtcdClientPort.ToString(CultureInfo.InvariantCulture)}").ToArray()),
                ["protocol"] = "https",
                ["cacert"] = CaFile(m), ["cert"] = CertFile(m), ["key"] = KeyFile(m),
            },
            ["bootstrap"] = new JsonObject
            {
                ["dcs"] = new JsonObject
                {
                    ["ttl"] = s.TtlSeconds, ["loop_wait"] = s.LoopWaitSeconds, ["retry_timeout"] = s.RetryTimeoutSeconds,
                    ["maximum_lag_on_failover"] = s.MaximumLagOnFailoverBytes,
                    ["synchronous_mode"] = s.SynchronousMode,
                    ["synchronous_node_count"] = s.SynchronousNodeCount,
                    ["failsafe_mode"] = s.FailsafeMode,
                    ["primary_start_timeout"] = s.PrimaryStartTimeoutSeconds,
                    ["postgresql"] = new JsonObject { ["use_pg_rewind"] = true, ["use_slots"] = true, ["parameters"] = dynamicParameters },
                    ["slots"] = slots,
                },
            },
            ["postgresql"] = new JsonObject
            {
                ["listen"] = $"{m.ListenAddresses}:{m.Port.ToString(CultureInfo.InvariantCulture)}",
                ["connect_address"] = $"{UrlHost(m.Address)}:{m.Port.ToString(CultureInfo.InvariantCulture)}",
                ["data_dir"] = m.DataDirectory,
                ["config_dir"] = m.ConfigDirectory,
                ["bin_dir"] = m.BinDirectory,
                ["pgpass"] = PatroniPassFile(m),
                ["use_unix_socket"] = true,
                ["authentication"] = new JsonObject
                {
                    ["superuser"] = new JsonObject { ["username"] = facts.Superuser.UserName, ["password"] = facts.Superuser.Password },
                    ["replication"] = new JsonObject { ["username"] = facts.Replication.UserName, ["password"] = facts.Replication.Password },
                },
                ["parameters"] = localParameters,
                ["basebackup"] = new JsonArray(new JsonObject { ["checkpoint"] = "fast" }),
            },
            ["tags"] = new JsonObject { ["nofailover"] = false, ["noloadbalance"] = false, ["clonefrom"] = false, ["nosync"] = false },
        };
        SetApplyDelay(config, m.ApplyDelay);
        return Serialize(config);
    }

    /// <summary>
    /// The configuration of a member that joins later (a standby built with Invoke-PgBaseBackup | Enable-PgHotStandby),
    /// made from a running member's: the cluster-wide parts (scope, etcd's addresses, the logins, bootstrap) as they are,
    /// everything of the member itself (name, addresses, directories, certificate paths, local settings, its delay and
    /// tags) from <paramref name="m"/>. Pure; gives what <see cref="PatroniConfig"/> would have written for it at the hand-over.
    /// </summary>
    public static string ForNewMember(string memberConfig, HaMember m)
    {
        var config = JsonNode.Parse(memberConfig) as JsonObject
            ?? throw new FormatException("Patroni's configuration is not a JSON object (not one Enable-PgAutoFailover wrote).");
        var rest = $"{UrlHost(m.Address)}:{RestApiPortOf(memberConfig).ToString(CultureInfo.InvariantCulture)}";
        config["name"] = m.Name;
        if (config["restapi"] is JsonObject api)
        {
            api["listen"] = rest;
            api["connect_address"] = rest;
            api["certfile"] = ChainFile(m); api["keyfile"] = KeyFile(m); api["cafile"] = CaFile(m);
        }
        config["ctl"] = new JsonObject { ["cacert"] = CaFile(m), ["certfile"] = CertFile(m), ["keyfile"] = KeyFile(m) };
        if (config["etcd3"] is JsonObject etcd) { etcd["cacert"] = CaFile(m); etcd["cert"] = CertFile(m); etcd["key"] = KeyFile(m); }
        var postgresql = config["postgresql"] as JsonObject ?? new JsonObject();
        config["postgresql"] = postgresql;
        postgresql["listen"] = $"{m.ListenAddresses}:{m.Port.ToString(CultureInfo.InvariantCulture)}";
        postgresql["connect_address"] = $"{UrlHost(m.Address)}:{m.Port.ToString(CultureInfo.InvariantCulture)}";
        postgresql["data_dir"] = m.DataDirectory;
        postgresql["config_dir"] = m.ConfigDirectory;
        postgresql["bin_dir"] = m.BinDirectory;
        postgresql["pgpass"] = PatroniPassFile(m);
        var local = new JsonObject { ["hba_file"] = m.HbaFile };
        if (m.IdentFile is { } ident) local["ident_file"] = ident;
        if (m.SocketDirectories is { } sockets) local["unix_socket_directories"] = sockets;
        if (m.ClusterName is { } clusterName) local["cluster_name"] = clusterName;
        postgresql["parameters"] = local;
        postgresql.Remove("recovery_conf");
        config["tags"] = new JsonObject { ["nofailover"] = false, ["noloadbalance"] = false, ["clonefrom"] = false, ["nosync"] = false };
        SetApplyDelay(config, m.ApplyDelay);
        return Serialize(config);
    }

    /// <summary>The REST API's port a member's configuration gives.</summary>
    public static int RestApiPortOf(string memberConfig) =>
        int.Parse(((string?)JsonNode.Parse(memberConfig)?["restapi"]?["listen"] ?? ":8008").Split(':')[^1], CultureInfo.InvariantCulture);

    /// <summary>
    /// A member's Patroni configuration with <paramref name="delay"/> as its recovery_min_apply_delay: a delayed member is
    /// tagged nofailover (Patroni never promotes it, nor fails over to it on request); zero removes both. Pure: the text in,
    /// the text out; the REST API's POST /reload makes Patroni read it.
    /// </summary>
    public static string WithApplyDelay(string patroniConfig, TimeSpan delay)
    {
        var config = JsonNode.Parse(patroniConfig) as JsonObject
            ?? throw new FormatException("Patroni's configuration is not a JSON object (not one Enable-PgAutoFailover wrote).");
        SetApplyDelay(config, delay);
        return Serialize(config);
    }

    /// <summary>The apply delay a member's configuration gives (zero when none), and whether it is tagged nofailover.</summary>
    public static (TimeSpan Delay, bool NoFailover) ApplyDelayOf(string patroniConfig)
    {
        var config = JsonNode.Parse(patroniConfig);
        var delay = config?["postgresql"]?["recovery_conf"]?["recovery_min_apply_delay"] is JsonValue v ? StandbyReplay.ParseDelay(v.ToString()) : TimeSpan.Zero;
        var noFailover = config?["tags"]?["nofailover"] is JsonValue t && t.TryGetValue<bool>(out var b) && b;
        return (delay, noFailover);
    }

    private static void SetApplyDelay(JsonObject config, TimeSpan delay)
    {
        var postgresql = config["postgresql"] as JsonObject ?? new JsonObject();
        config["postgresql"] = postgresql;
        var tags = config["tags"] as JsonObject ?? new JsonObject();
        config["tags"] = tags;
        var recovery = postgresql["recovery_conf"] as JsonObject;
        if (delay > TimeSpan.Zero)
        {
            recovery ??= new JsonObject();
            recovery["recovery_min_apply_delay"] = StandbyReplay.FormatDelay(delay);
            postgresql["recovery_conf"] = recovery;
        }
        else if (recovery is not null)
        {
            recovery.Remove("recovery_min_apply_delay");
            if (recovery.Count == 0) postgresql.Remove("recovery_conf");
        }
        tags["nofailover"] = delay > TimeSpan.Zero;
    }

    /// <summary>The systemd unit's name of a daemon ("etcd" or "patroni") of the cluster <paramref name="scope"/>.</summary>
    public static string SystemdUnitName(string scope, string daemon) => $"pgreplication-{daemon}-{scope}.service";

    /// <summary>
    /// The systemd unit that runs one daemon of a member where the host has systemd (instead of the supervisor): as the
    /// database's OS user, restarted when it ends, started at boot; Patroni after etcd and the network. KillMode=process
    /// for Patroni, so stopping the unit never takes postgres (Patroni's child) down with a signal of systemd's own.
    /// </summary>
    public static string SystemdUnit(HaMember m, string daemon, string user, string scope)
    {
        if (daemon is not ("etcd" or "patroni")) throw new ArgumentException($"No unit for '{daemon}': etcd or patroni.", nameof(daemon));
        var etcd = daemon == "etcd";
        var start = etcd ? $"/usr/bin/etcd --config-file {EtcdConfigFile(m)}" : $"/usr/bin/patroni {PatroniConfigFile(m)}";
        var after = etcd ? "network-online.target" : $"network-online.target {SystemdUnitName(scope, "etcd")}";
        var lines = new List<string>
        {
            "# Written by PgReplication (Enable-PgAutoFailover).",
            "[Unit]",
            $"Description={(etcd ? "etcd member" : "Patroni")} of the PostgreSQL cluster {scope} (PgReplication)",
            $"After={after}",
            "Wants=network-online.target",
            "",
            "[Service]",
            "Type=simple",
            $"User={user}",
            $"WorkingDirectory={m.HaDirectory}",
            $"ExecStart={start}",
        };
        if (!etcd) lines.AddRange(new[] { "ExecReload=/bin/kill -HUP $MAINPID", "KillMode=process", "TimeoutStopSec=60" });
        lines.AddRange(new[] { "Restart=always", "RestartSec=1", "", "[Install]", "WantedBy=multi-user.target", "" });
        return string.Join("\n", lines);
    }

    /// <summary>
    /// The supervisor of one daemon where the host has no systemd: starts the program again a second after it ends, writes its
    /// own PID to &lt;name&gt;.pid, and on TERM stops the program and itself. Constant text: the program comes as arguments.
    /// </summary>
    public const string SupervisorScript = """
        #!/bin/sh
        # Written by PgReplication (Enable-PgAutoFailover): keeps one program running. TERM stops the program, then this.
        d=$(dirname "$0"); n=$1; shift
        echo $$ > "$d/$n.pid"
        child=
        stop() { [ -n "$child" ] && kill -TERM "$child" 2>/dev/null; [ -n "$child" ] && wait "$child" 2>/dev/null; rm -f "$d/$n.pid"; exit 0; }
        trap stop TERM INT
        while :; do
          "$@" >>"$d/$n.log" 2>&1 &
          child=$!
          wait "$child"
          sleep 1
        done

        """;

    /// <summary>The marker's value: "scope=&lt;scope&gt; api_port=&lt;port&gt; ca=&lt;base64 DER of the CA certificate&gt;".</summary>
    public static string MarkerValue(HaSettings s, byte[] caCertificateDer) =>
        $"scope={s.Scope} api_port={s.RestApiPort.ToString(CultureInfo.InvariantCulture)} ca={Convert.ToBase64String(caCertificateDer)}";

    /// <summary>The marker read back, or null when the value is empty or not one of ours.</summary>
    public static PatroniMarker? ParseMarker(string? value)
    {
        if (string.IsNullOrWhiteSpace(value)) return null;
        var fields = value.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(f => f.Split('=', 2)).Where(f => f.Length == 2)
            .ToDictionary(f => f[0], f => f[1], StringComparer.Ordinal);
        if (!fields.TryGetValue("scope", out var scope) || !fields.TryGetValue("api_port", out var portText)
            || !int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port is < 1 or > 65535
            || !fields.TryGetValue("ca", out var ca)) return null;
        try { return new PatroniMarker(scope, port, Convert.FromBase64String(ca)); }
        catch (FormatException) { return null; }
    }

    /// <summary>Patroni's scope for a cluster: "pg" and the system identifier unless the user names it.</summary>
    public static string DefaultScope(ulong systemIdentifier) => "pg" + systemIdentifier.ToString(CultureInfo.InvariantCulture);

    private static string UrlHost(string address) => address.Contains(':') ? $"[{address}]" : address;

    private static string Serialize(JsonNode node) =>
        node.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n";
}

/// <summary>What the marker setting says: the Patroni scope, the REST API's port on every member, the CA its certificates are signed by.</summary>
public sealed record PatroniMarker(string Scope, int ApiPort, byte[] CaCertificate);
