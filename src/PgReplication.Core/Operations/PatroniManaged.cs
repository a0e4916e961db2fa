using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using PgReplication.Core.Config;
using PgReplication.Core.Hosts;
using PgReplication.Core.Model;
using PgReplication.Core.Sql;
using PgReplication.Core.Versions;

namespace PgReplication.Core.Operations;

/// <summary>Set-PgMasterConfig's settings on a cluster Patroni manages: one PATCH of its dynamic configuration, and the words for -WhatIf.</summary>
public sealed class ManagedSettingsPlan
{
    /// <summary>The body of PATCH /config (empty: nothing to send).</summary>
    public required JsonObject Patch { get; init; }
    /// <summary>Server settings sent as postgresql.parameters, with their values (what Patroni writes in its postgresql.conf).</summary>
    public required IReadOnlyDictionary<string, string> Parameters { get; init; }
    /// <summary>The number of synchronous standbys asked for (synchronous_mode), when -SynchronousStandby was given; 0 turns it off.</summary>
    public int? SynchronousCount { get; init; }
    /// <summary>Settings a value in postgresql.auto.conf would override (ALTER SYSTEM RESET there after the PATCH).</summary>
    public required IReadOnlyList<string> Shadowable { get; init; }
    public List<string> Steps { get; } = new();
}

/// <summary>
/// Settings of a cluster Patroni manages go through its dynamic configuration (PATCH /config), which it writes on every
/// member: ALTER SYSTEM would be overridden by Patroni's command line or fought at its next reload.
/// </summary>
public static class ManagedSettings
{
    /// <summary>Settings Patroni takes from each member's own configuration (patroni.yml), never from the dynamic one.</summary>
    public static readonly IReadOnlyList<string> LocalSettings = new[] { "listen_addresses", "port", "cluster_name", "hba_file", "ident_file", "config_file", "data_directory" };

    /// <summary>Settings Patroni keeps on whatever is asked: setting them to that value is already done; to another, refused.</summary>
    private static readonly IReadOnlyDictionary<string, string> Forced = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase)
    {
        ["hot_standby"] = "on", ["wal_log_hints"] = "on",
    };

    /// <summary>
    /// What PATCH /config carries for the planned setting changes of <paramref name="node"/>. Pure. Refuses (before any
    /// change) a setting Patroni owns per member (listen_addresses: Patroni's postgresql.listen) or forces (hot_standby off).
    /// </summary>
    public static ManagedSettingsPlan Decide(PgNode node, IReadOnlyList<PrimaryConfigChange> settings)
    {
        foreach (var c in settings.Where(c => LocalSettings.Contains(c.Target, StringComparer.OrdinalIgnoreCase)))
            throw new RefusedException(ErrorReasons.PatroniOwnsSetting,
                $"On {node.Name}, {c.Target} would change from '{c.OldValue}' to '{c.NewValue}', but Patroni sets it from each member's own configuration (postgresql section of ~postgres/autofailover/patroni.yml): " +
                "nothing was changed. Give the value it has (-ListenAddress), or Disable-PgAutoFailover, change it, and hand the cluster over again.", node);
        foreach (var c in settings.Where(c => Forced.TryGetValue(c.Target, out var v) && !string.Equals(c.NewValue, v, StringComparison.OrdinalIgnoreCase)))
            throw new RefusedException(ErrorReasons.PatroniOwnsSetting, $"On {node.Name}, Patroni keeps {c.Target} '{Forced[c.Target]}'; '{c.NewValue}' cannot be set while it manages the cluster. Nothing was changed.", node);

        var parameters = new Dictionary<string, string>(StringComparer.Ordinal);
        var patch = new JsonObject();
        int? syncCount = null;
        var steps = new List<string>();
        foreach (var c in settings)
        {
            if (Forced.ContainsKey(c.Target))
            {
                steps.Add($"{c.Target} is '{Forced[c.Target]}' already: Patroni keeps it so");
                continue;
            }
            if (c.Target == VersionRules.SynchronousStandbyNames)
            {
                // Patroni sets synchronous_standby_names itself in synchronous mode, naming the standbys it chose.
                syncCount = SynchronousStandbyNames.RequiredCount(c.NewValue);
                patch["synchronous_mode"] = syncCount > 0;
                if (syncCount > 0) patch["synchronous_node_count"] = syncCount;
                steps.Add(syncCount > 0
                    ? $"Patroni's synchronous mode with {syncCount} synchronous standby(s) (PATCH /config; Patroni chooses them and sets synchronous_standby_names), instead of '{c.NewValue}'"
                    : "Patroni's synchronous mode off (PATCH /config)");
                continue;
            }
            parameters[c.Target] = c.NewValue;
            var restart = c.NeedsRestart ? " (needs a restart: Patroni's, with -Restart)"
                : PassedOnCommandLine(c.Target) ? " (on the command line of a server Patroni started: takes effect at its restart, with -Restart)" : "";
            steps.Add($"set {c.Target}: '{c.OldValue}' -> '{c.NewValue}' in Patroni's dynamic configuration (PATCH /config: every member){restart}");
        }
        if (parameters.Count > 0)
        {
            var values = new JsonObject();
            foreach (var (name, value) in parameters) values[name] = value;
            patch["postgresql"] = new JsonObject { ["parameters"] = values };
        }
        var shadowable = parameters.Keys.Concat(syncCount is null ? Array.Empty<string>() : new[] { VersionRules.SynchronousStandbyNames }).ToList();
        var plan = new ManagedSettingsPlan { Patch = patch, Parameters = parameters, SynchronousCount = syncCount, Shadowable = shadowable };
        plan.Steps.AddRange(steps);
        return plan;
    }

    /// <summary>
    /// Sends the PATCH, removes what postgresql.auto.conf holds for the same settings on <paramref name="node"/> (it would
    /// override Patroni's file), waits until Patroni wrote and reloaded them, then restarts through Patroni when asked and
    /// needed: every member that waits for it, the standbys first, the leader last.
    /// </summary>
    public static PrimaryConfigResult Apply(PgNode node, PatroniMarker marker, ManagedSettingsPlan plan, bool restart, TimeSpan timeout, IOperationLog log)
    {
        var done = new List<string>();
        using var shell = HostShells.Open(node, log);
        var credential = AutoFailover.RestApiCredential(shell, node, HostFiles.HomeOf(shell, node.OsUser) + "/autofailover")
            ?? throw new InvalidOperationException($"{node.Name} has no Patroni configuration with a REST API login: is it a member?");
        using var api = new PatroniApi(node.ComputerName, marker.ApiPort, marker.CaCertificate, credential, TimeSpan.FromSeconds(30));
        if (plan.Patch.Count > 0)
        {
            api.PatchConfig(plan.Patch);
            done.AddRange(plan.Steps);
            log.Verbose($"{node.Name}: Patroni's dynamic configuration changed: {plan.Patch.ToJsonString()}.");
            // pg_basebackup copied the primary's postgresql.auto.conf to every standby: each member's copy is cleared.
            var memberNodes = api.Cluster().Members.Select(m => MemberNode(node, m)).ToList();
            foreach (var line in Concurrently.Map(memberNodes, m => ResetShadows(m, plan.Shadowable, log)).SelectMany(x => x)) done.Add(line);
            WaitApplied(node, memberNodes, api, plan, timeout, log);
        }

        // What waits for a restart is read on every member, whatever this run changed: a rerun after a run without
        // -Restart changes no setting, yet its members may still run with the old values.
        var cluster = api.Cluster();
        // A member whose server is not running has nothing to compare (Patroni's own flag still counts).
        var waiting = Concurrently.Map(cluster.Members, m => new MemberRestartFacts(m,
            m.State is "running" or "streaming" ? WaitingForRestart(RunningSettings(MemberNode(node, m))) : Array.Empty<string>()));
        var members = MembersToRestart(waiting);
        IReadOnlyList<string> pending = waiting.SelectMany(w => w.Waiting).Distinct(StringComparer.Ordinal).ToList();
        var restarted = false;
        if (restart && members.Count > 0)
        {
            foreach (var m in members)
            {
                using var memberApi = new PatroniApi(m.Host ?? node.ComputerName, marker.ApiPort, marker.CaCertificate, credential, timeout);
                log.Verbose($"Asking Patroni to restart {m.Name}.");
                memberApi.Restart();
                done.Add($"Patroni restarted {m.Name}");
            }
            ServerController.WaitUntilAccepting(node, log, timeout);
            restarted = true;
            pending = Array.Empty<string>();
        }
        else if (members.Count > 0)
        {
            var names = pending.Count > 0 ? string.Join(", ", pending) : "settings Patroni lists as pending";
            log.Warning($"On {node.Name}, these settings take effect only after a restart: {names} (members {string.Join(", ", members.Select(m => m.Name))}). " +
                        "Run again with -Restart: Patroni restarts each of them, the standbys first.");
        }
        return new PrimaryConfigResult { Node = node, Changes = done, PendingRestart = pending, Restarted = restarted };
    }

    /// <summary>The member as a node to connect to: the given node for its own member, else its address with the given node's login.</summary>
    private static PgNode MemberNode(PgNode node, PatroniMember member)
    {
        if (member.Host is null || string.Equals(member.Host, node.ComputerName, StringComparison.OrdinalIgnoreCase) && (member.Port ?? PgNode.DefaultPort) == node.Port) return node;
        return new PgNode(member.Host, member.Port ?? PgNode.DefaultPort)
        {
            Name = member.Name, AdminCredential = node.AdminCredential, Database = node.Database, ConnectTimeout = node.ConnectTimeout, Access = node.Access, Ssh = node.Ssh, OsUser = node.OsUser,
        };
    }

    /// <summary>ALTER SYSTEM RESET of the settings postgresql.auto.conf holds among <paramref name="names"/> (they would override Patroni's file), and a reload.</summary>
    private static IReadOnlyList<string> ResetShadows(PgNode member, IReadOnlyList<string> names, IOperationLog log)
    {
        using var session = PgSession.Open(member, log: log);
        var shadowed = session.Query("SELECT DISTINCT f.name FROM pg_catalog.pg_file_settings f WHERE f.name = ANY(@names) AND f.sourcefile LIKE '%/postgresql.auto.conf'",
            ("names", names.ToArray())).Select(r => r.Text("name")!).ToList();
        foreach (var name in shadowed)
        {
            ConfigValues.EnsureSettingName(name);
            session.Execute($"ALTER SYSTEM RESET {name}");
        }
        if (shadowed.Count > 0) session.Scalar<bool>("SELECT pg_catalog.pg_reload_conf()");
        return shadowed.Select(name => $"reset {name} in {member.Name}'s postgresql.auto.conf, where it would override Patroni's value").ToList();
    }

    /// <summary>
    /// Waits until Patroni wrote every parameter in its postgresql.conf on every member (it reloads right after; what waits
    /// for a restart is read from those files next) and named the synchronous standbys asked for.
    /// </summary>
    private static void WaitApplied(PgNode node, IReadOnlyList<PgNode> members, PatroniApi api, ManagedSettingsPlan plan, TimeSpan timeout, IOperationLog log)
    {
        var deadline = DateTime.UtcNow + timeout;
        string? missing = null;
        while (true)
        {
            missing = Concurrently.Map(members, m => NotWritten(m, plan) is { } name ? $"{name} on {m.Name}" : null).FirstOrDefault(m => m is not null);
            if (missing is null && plan.SynchronousCount is { } count)
            {
                var syncs = api.Cluster().Members.Count(m => m.Role == "sync_standby");
                if (count > 0 ? syncs == 0 : syncs > 0) missing = "synchronous mode";
            }
            if (missing is null) break;
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"On {node.Name}, Patroni had not applied {missing} {timeout.TotalSeconds:0} s after the change of its dynamic configuration (see ~postgres/autofailover/patroni.log).");
            Thread.Sleep(200);
        }
        // Patroni signals the server right after writing the file; the reload itself takes a moment.
        Thread.Sleep(500);
        log.Verbose($"{node.Name}: Patroni wrote and reloaded the new settings.");
    }

    /// <summary>The first parameter of the plan whose value Patroni has not written yet in the member's postgresql.conf; null when all are.</summary>
    private static string? NotWritten(PgNode member, ManagedSettingsPlan plan)
    {
        if (plan.Parameters.Count == 0) return null;
        using var session = PgSession.Open(member, log: NullOperationLog.Instance);
        var written = session.Query("""
            SELECT DISTINCT ON (f.name) f.name, f.setting FROM pg_catalog.pg_file_settings f
             WHERE f.name = ANY(@names) AND f.sourcefile NOT LIKE '%/postgresql.auto.conf' ORDER BY f.name, f.seqno DESC
            """, ("names", plan.Parameters.Keys.ToArray())).ToDictionary(r => r.Text("name")!, r => r.Text("setting"));
        return plan.Parameters.Where(p => !written.TryGetValue(p.Key, out var v) || !string.Equals(v?.Trim(), p.Value.Trim(), StringComparison.OrdinalIgnoreCase))
            .Select(p => p.Key).FirstOrDefault();
    }

    /// <summary>The member's settings that may wait for a restart: pending_restart ones, and those Patroni passed on its command line, with the value of Patroni's file.</summary>
    private static IReadOnlyList<RunningSetting> RunningSettings(PgNode member)
    {
        using var session = PgSession.Open(member, log: NullOperationLog.Instance);
        return session.Query("""
            SELECT s.name, s.setting, s.unit, s.vartype, s.source, s.pending_restart,
                   (SELECT f.setting FROM pg_catalog.pg_file_settings f
                     WHERE f.name = s.name AND f.sourcefile NOT LIKE '%/postgresql.auto.conf' ORDER BY f.seqno DESC LIMIT 1) AS file_setting
              FROM pg_catalog.pg_settings s
             WHERE s.pending_restart OR s.source = 'command line'
            """).Select(r => new RunningSetting(r.Text("name")!, r.Text("setting"), r.Text("unit"), r.Text("vartype") ?? "string", r.Text("source") ?? "",
                r.Get<bool>("pending_restart"), r.Text("file_setting"))).ToList();
    }

    /// <summary>
    /// The settings that wait for a restart on one member (pure): pending_restart, and a setting Patroni put on the server's
    /// command line (<see cref="PassedOnCommandLine"/>) whose running value is not the one Patroni's file now holds: a
    /// reload never reaches a command-line value, and pending_restart stays false for it, so only comparing tells.
    /// </summary>
    public static IReadOnlyList<string> WaitingForRestart(IEnumerable<RunningSetting> settings) =>
        settings.Where(s => s.PendingRestart || s.Source == "command line" && s.FileSetting is not null
                            && PassedOnCommandLine(s.Name) && !RunsWithFileValue(s))
            .Select(s => s.Name).ToList();

    /// <summary>
    /// Settings Patroni 3.0 starts the server with on its command line: those the hand-over carries into the dynamic
    /// configuration, but wal_keep_size and wal_keep_segments, which it writes in its file only (a reload applies them).
    /// </summary>
    internal static bool PassedOnCommandLine(string name) =>
        AutoFailoverConfig.CommandLineSettings.Contains(name, StringComparer.OrdinalIgnoreCase) && !name.StartsWith("wal_keep_", StringComparison.OrdinalIgnoreCase);

    /// <summary>Whether the running value is the file's, read as the server reads it: booleans, numbers in the setting's unit, enum case and aliases.</summary>
    internal static bool RunsWithFileValue(RunningSetting s)
    {
        var (running, file) = (s.Setting?.Trim() ?? "", s.FileSetting!.Trim());
        switch (s.VarType)
        {
            case "bool":
                return ConfigValues.ParseBool(running) is { } r && r == ConfigValues.ParseBool(file);
            case "integer":
                return ConfigValues.ToSettingUnits(file, s.Unit) is { } n && long.TryParse(running, NumberStyles.Integer, CultureInfo.InvariantCulture, out var m)
                    ? n == m : string.Equals(running, file, StringComparison.Ordinal);
            case "enum":
                return string.Equals(CanonicalEnum(running), CanonicalEnum(file), StringComparison.OrdinalIgnoreCase);
            default:
                return string.Equals(running, file, StringComparison.Ordinal);
        }
    }

    // wal_level hot_standby is the old name of replica (the server shows replica).
    private static string CanonicalEnum(string value) => value.Equals("hot_standby", StringComparison.OrdinalIgnoreCase) ? "replica" : value;

    /// <summary>The members to restart (pure): each that Patroni flags or that runs a setting waiting for a restart; the standbys first, the leader last (a standby must run with at least the primary's max_connections, max_wal_senders ...).</summary>
    public static IReadOnlyList<PatroniMember> MembersToRestart(IEnumerable<MemberRestartFacts> members) =>
        members.Where(m => m.Member.PendingRestart || m.Waiting.Count > 0).Select(m => m.Member).OrderBy(m => m.IsLeader).ToList();
}

/// <summary>A setting as a member runs it: pg_settings' value, unit, type, source and pending_restart, with the value Patroni's postgresql.conf holds.</summary>
public sealed record RunningSetting(string Name, string? Setting, string? Unit, string VarType, string Source, bool PendingRestart, string? FileSetting);

/// <summary>One member as Patroni lists it, with the settings that wait for its restart.</summary>
public sealed record MemberRestartFacts(PatroniMember Member, IReadOnlyList<string> Waiting);

/// <summary>What joining a new standby to Patroni's cluster takes, read before anything changes.</summary>
public sealed class PatroniJoinPlan
{
    public required PgNode Primary { get; init; }
    public required PgNode Standby { get; init; }
    public required PatroniMarker Marker { get; init; }
    /// <summary>The marker setting's value as the primary has it (the new member gets the same).</summary>
    public required string MarkerValue { get; init; }
    /// <summary>The primary's own patroni.yml: the cluster-wide parts of the new member's come from it.</summary>
    public required string LeaderConfig { get; init; }
    public required PemPair Authority { get; init; }
    /// <summary>The slot the standby streams with (its member name): kept as a permanent slot until it is a member.</summary>
    public string? Slot { get; init; }
    public List<string> Steps { get; } = new();
}

/// <summary>
/// A standby built by Invoke-PgBaseBackup | Enable-PgHotStandby on a cluster Patroni manages joins it as a member, the way
/// Enable-PgAutoFailover hands a standby over: the cluster's CA signs its certificate, its patroni.yml is the primary's with
/// its own addresses and directories, the marker is set, and Patroni starts and adopts the running standby.
/// </summary>
public static class PatroniJoin
{
    public static PatroniJoinPlan Prepare(PgNode primary, PgNode standby, PatroniMarker marker, string? slot, IOperationLog log)
    {
        string config, ca, caKey, markerValue;
        using (var shell = HostShells.Open(primary, log))
        {
            var dir = HostFiles.HomeOf(shell, primary.OsUser) + "/autofailover";
            config = HostFiles.ReadTextOrEmpty(shell, dir + "/patroni.yml", primary.OsUser);
            ca = HostFiles.ReadTextOrEmpty(shell, dir + "/ca.crt", primary.OsUser);
            caKey = ca.Length > 0 ? HostFiles.ReadTextOrEmpty(shell, dir + "/ca.key", primary.OsUser) : "";
            if (config.Length == 0 || caKey.Length == 0)
                throw new InvalidOperationException($"{primary.Name} carries Patroni's marker, but {dir} has no patroni.yml or CA: run Enable-PgAutoFailover with every node instead.");
        }
        using (var session = PgSession.Open(primary, log: log))
            markerValue = session.Scalar<string>($"SELECT pg_catalog.current_setting('{AutoFailoverConfig.MarkerSetting}', true)") ?? "";
        using (var shell = HostShells.Open(standby, log))
        {
            var missing = shell.Run(new HostCommand("sh", "-c", "command -v patroni >/dev/null 2>&1 || echo patroni") { RunAs = standby.OsUser, Timeout = TimeSpan.FromSeconds(30) })
                .EnsureSuccess().StandardOutput.Trim();
            if (missing.Length > 0)
                throw new AutoFailoverRefusedException(ErrorReasons.PackageMissing,
                    $"{standby.Name} lacks patroni, and {primary.Name}'s cluster is managed by Patroni: install it there with 'apt-get install {AutoFailover.RequiredPackages}' first. Nothing was changed.", standby);
        }
        var plan = new PatroniJoinPlan
        {
            Primary = primary, Standby = standby, Marker = marker, MarkerValue = markerValue, LeaderConfig = config, Authority = new PemPair(ca, caKey), Slot = slot,
        };
        if (slot is not null)
            plan.Steps.Add($"keep the slot {slot} on {primary.Name} as a Patroni permanent slot until {standby.Name} is a member (Patroni drops a slot it does not know once it is idle)");
        plan.Steps.Add($"{standby.Name}: a certificate signed by the cluster's CA and patroni.yml (0600) in ~{standby.OsUser}/autofailover, made from {primary.Name}'s (same scope, etcd, logins)");
        plan.Steps.Add($"{standby.Name}: set {AutoFailoverConfig.MarkerSetting}, start Patroni (a systemd unit where the host has systemd, else supervised), which adopts the running standby; wait until it is a running member");
        return plan;
    }

    /// <summary>Before the standby starts: its slot becomes a permanent slot, so Patroni keeps it on the leader meanwhile.</summary>
    public static void KeepSlot(PatroniJoinPlan plan, IOperationLog log)
    {
        if (plan.Slot is null) return;
        using var api = LeaderApi(plan);
        PatroniSlots.Declare(api, plan.Slot);
        log.Verbose($"{plan.Primary.Name}: {plan.Slot} is a Patroni permanent slot until {plan.Standby.Name} joins.");
    }

    /// <summary>After the standby streams: its files, the marker, Patroni started, then waits until Patroni lists it running.</summary>
    public static void Apply(PatroniJoinPlan plan, TimeSpan timeout, IOperationLog log)
    {
        var standby = plan.Standby;
        var facts = AutoFailover.ReadNode(standby, plan.Marker.Scope, isDcsMember: false, log);
        var member = facts.Member;
        using (var shell = HostShells.Open(standby, log))
        {
            if (!facts.PatroniRunning)
                AutoFailover.WriteMemberFiles(shell, standby, member, plan.Authority, AutoFailoverConfig.ForNewMember(plan.LeaderConfig, member), null, log);
            using (var session = PgSession.Open(standby, log: log))
            {
                // A custom setting must exist in the session (a placeholder) before ALTER SYSTEM accepts it.
                session.Execute($"SET {AutoFailoverConfig.MarkerSetting} = ''");
                session.Execute($"ALTER SYSTEM SET {AutoFailoverConfig.MarkerSetting} = {SqlQuote.Literal(plan.MarkerValue)}");
                session.Execute("SELECT pg_catalog.pg_reload_conf()");
            }
            AutoFailover.StartPatroni(shell, facts, plan.Marker.Scope);
        }
        using var api = LeaderApi(plan);
        AutoFailover.WaitFor(() => api.Cluster().Members.Any(m => m.Name == member.Name && m.State is "running" or "streaming"), timeout,
            $"{standby.Name} did not become a running Patroni member (see ~{standby.OsUser}/autofailover/patroni.log there)", log);
        AutoFailover.WaitUntilPatroniWroteSettings(standby, timeout, log);
        log.Verbose($"{standby.Name}: Patroni member {member.Name}.");
        // Now a member: Patroni keeps its slot as the member's; the permanent entry goes.
        if (plan.Slot is not null) PatroniSlots.Remove(api, plan.Slot);
    }

    private static PatroniApi LeaderApi(PatroniJoinPlan plan)
    {
        return new PatroniApi(plan.Primary.ComputerName, plan.Marker.ApiPort, plan.Marker.CaCertificate, AutoFailover.RestApiCredentialOf(plan.LeaderConfig), TimeSpan.FromSeconds(30));
    }
}

/// <summary>What Patroni's dynamic configuration says about replication slots (GET /config), read when it manages the primary's cluster.</summary>
public sealed record PatroniSlotFacts(PatroniMarker Marker, bool UseSlots, IReadOnlyCollection<string> PermanentSlots, int LoopWaitSeconds)
{
    /// <summary>From the dynamic configuration: postgresql.use_slots (Patroni's default on), the names under slots, loop_wait (default 10 s).</summary>
    public static PatroniSlotFacts Of(PatroniMarker marker, JsonObject config)
    {
        var useSlots = config["postgresql"]?["use_slots"] is not JsonValue v || !v.TryGetValue<bool>(out var on) || on;
        var permanent = (config["slots"] as JsonObject)?.Select(p => p.Key).ToList() ?? new List<string>();
        var loopWait = config["loop_wait"] is JsonValue w && w.TryGetValue<int>(out var seconds) && seconds > 0 ? seconds : 10;
        return new PatroniSlotFacts(marker, useSlots, permanent, loopWait);
    }
}

/// <summary>
/// Slots Patroni keeps. On its leader Patroni drops every idle slot it does not know whenever it reloads its slot list (its
/// start, a promotion, a slot it created or saw vanish); a permanent slot of its dynamic configuration it creates and keeps.
/// </summary>
public static class PatroniSlots
{
    /// <summary>Null when Patroni does not manage the primary's cluster (or the primary does not answer).</summary>
    public static PatroniSlotFacts? Read(PgNode primary, IOperationLog log)
    {
        if (PatroniControl.FindManaged(new[] { primary }, log) is not { } managed) return null;
        using var api = new PatroniApi(primary.ComputerName, managed.Marker.ApiPort, managed.Marker.CaCertificate, timeout: TimeSpan.FromSeconds(30));
        return PatroniSlotFacts.Of(managed.Marker, api.Config());
    }

    public static void Declare(PatroniApi api, string slot) =>
        api.PatchConfig(new JsonObject { ["slots"] = new JsonObject { [slot] = new JsonObject { ["type"] = "physical" } } });

    public static void Remove(PatroniApi api, string slot) =>
        api.PatchConfig(new JsonObject { ["slots"] = new JsonObject { [slot] = null } });

    /// <summary>
    /// Declares <paramref name="slot"/> a permanent slot and waits until Patroni has it on the leader (it makes a missing one
    /// within a loop): a slot Patroni made is one it keeps, whatever it reloads later. When it does not come, the declaration
    /// is taken back (unless it was there before) and the error says so.
    /// </summary>
    public static void Keep(PgNode primary, IHostShell primaryShell, PatroniSlotFacts facts, string slot, IOperationLog log)
    {
        var credential = AutoFailover.RestApiCredential(primaryShell, primary, HostFiles.HomeOf(primaryShell, primary.OsUser) + "/autofailover")
            ?? throw new InvalidOperationException($"{primary.Name} carries Patroni's marker, but its Patroni configuration has no REST API login: is it a member?");
        using var api = new PatroniApi(primary.ComputerName, facts.Marker.ApiPort, facts.Marker.CaCertificate, credential, TimeSpan.FromSeconds(30));
        Declare(api, slot);
        log.Verbose($"{primary.Name}: {slot} declared a Patroni permanent slot; waiting until Patroni has it.");
        try
        {
            AutoFailover.WaitFor(() => ReplicationSlots.Exists(primary, slot, NullOperationLog.Instance), TimeSpan.FromSeconds(3 * facts.LoopWaitSeconds + 10),
                $"Patroni had not created the permanent slot {slot} on {primary.Name} (see ~{primary.OsUser}/autofailover/patroni.log there)", log);
        }
        catch (TimeoutException ex)
        {
            if (facts.PermanentSlots.Contains(slot)) throw;
            try { Remove(api, slot); }
            catch (PatroniApiException removeFailed) { throw new TimeoutException($"{ex.Message} Removing the declaration failed too ({removeFailed.Message}): remove slots.{slot} with PATCH /config.", ex); }
            throw new TimeoutException($"{ex.Message} The declaration was removed again; nothing was copied.", ex);
        }
        log.Verbose($"{primary.Name}: Patroni keeps the slot {slot}.");
    }
}
