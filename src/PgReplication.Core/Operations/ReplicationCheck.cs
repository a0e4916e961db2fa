using System.Globalization;
using PgReplication.Core.Config;
using PgReplication.Core.Model;
using PgReplication.Core.Sql;
using PgReplication.Core.Versions;

namespace PgReplication.Core.Operations;

public sealed class ReplicationCheckOptions
{
    /// <summary>The thresholds Test-PgReplication and the acceptance kit use unless told otherwise.</summary>
    public const long DefaultMaxLagBytes = 16L * 1024 * 1024;
    public const double DefaultMaxLagSeconds = 30;

    public long MaxLagBytes { get; init; } = DefaultMaxLagBytes;
    public TimeSpan MaxLag { get; init; } = TimeSpan.FromSeconds(DefaultMaxLagSeconds);
}

/// <summary>
/// Health of standbys, read from pg_stat_replication and pg_replication_slots on the primary and
/// pg_stat_wal_receiver on each standby: never from logs or ps.
/// </summary>
public static class ReplicationCheck
{
    /// <summary>Failed archiving attempts since the last success (0 when the last attempt succeeded, or none failed).</summary>
    internal const string ArchiverFailuresQuery = """
        SELECT CASE WHEN a.last_failed_time IS NOT NULL
                     AND (a.last_archived_time IS NULL OR a.last_failed_time > a.last_archived_time)
                    THEN a.failed_count ELSE 0 END
        FROM pg_catalog.pg_stat_archiver a
        """;

    /// <summary>One result per standby: those given, and those the given primaries show in pg_stat_replication.</summary>
    public static List<ReplicationHealth> Check(IReadOnlyList<PgNode> nodes, ReplicationCheckOptions options, IOperationLog log)
    {
        var primaries = nodes.Where(n => n.Role == NodeRole.Primary).ToList();
        // Only a primary the caller gave reports the standbys it was not given: asking about one standby is about that one.
        var givenPrimaries = primaries.ToHashSet();
        var standbys = nodes.Where(n => n.Role != NodeRole.Primary).ToList();

        // A standby given without its primary: find the primary from its own upstream.
        foreach (var standby in standbys)
        {
            var upstream = standby.UpstreamNode ?? PrimaryFromUpstream(standby, log);
            if (upstream is not null && !primaries.Any(p => SameEndpoint(p, upstream)))
            {
                if (upstream.Role != NodeRole.Primary) TryDiscover(upstream, log);
                primaries.Add(upstream);
            }
        }

        // Every node is read at once, asynchronously (no thread waits on a socket): seven standbys take about
        // as long as one.
        var primaryTasks = primaries.Distinct().ToDictionary(p => p, p => ReadPrimaryAsync(p, log));
        var standbyTasks = standbys.Distinct().ToDictionary(s => s, s => ReadStandbyAsync(s, log));
        Task.WaitAll(primaryTasks.Values.Cast<Task>().Concat(standbyTasks.Values).ToArray());
        var primaryReads = primaryTasks.ToDictionary(t => t.Key, t => t.Value.Result);
        var standbyReads = standbyTasks.ToDictionary(t => t.Key, t => t.Value.Result);
        // 17+: which of the primary's failover logical slots each standby holds (a small read of its own, FailoverSlots).
        // A pgBackRest archive (archive_command archive-push): the repository's state, read on the primary's host, and only
        // there is one (an SSH round trip); each primary's at once, while the failover slots are read.
        var archiveChecks = primaryReads.Where(kv => kv.Key.Role == NodeRole.Primary && PgBackRest.ArchivePushTarget(kv.Value.ArchiveCommand) is not null)
            .ToDictionary(kv => kv.Key, kv => Concurrently.Start(() => PgBackRest.ArchiveCheck(kv.Key, kv.Value.ArchiveCommand!, kv.Value.LastArchivedWal, log)));
        var failoverChecks = FailoverSlots.ChecksFor(standbys.SelectMany(s => primaries.Where(p => Follows(s, p)).Select(p => (s, p))).ToList(), log);

        var results = new List<ReplicationHealth>();
        var claimed = new HashSet<(PgNode, int)>();
        foreach (var primary in primaries)
        {
            var reading = primaryReads[primary];
            if (reading.Error is not null)
            {
                foreach (var s in standbys.Where(s => Follows(s, primary)))
                    results.Add(Unreachable(s, primary, $"the primary {primary.Name} is unreachable: {reading.Error}"));
                continue;
            }
            var (senders, archiverFailing, primaryLsn, wal, primaryTimeline) = (reading.Senders!, reading.ArchiverFailing, reading.Lsn, reading.Wal!, primary.Timeline);
            var archive = archiveChecks.GetValueOrDefault(primary)?.Join();
            var showsAll = givenPrimaries.Contains(primary);

            var mine = standbys.Where(s => Follows(s, primary)).ToList();
            // What names the standby for sure first (its slot, an application_name its conninfo gives it), then, for the
            // rest (a standby built by hand: no slot, application_name "walreceiver"), its address.
            var rows = new Dictionary<PgNode, WalSender?>();
            foreach (var standby in mine)
            {
                var facts = standbyReads[standby].State;
                var appName = facts is null ? null : ApplicationName(facts.ReceiverConninfo);
                var slot = facts?.Slot ?? standby.SlotName;
                var row = senders.FirstOrDefault(r => slot is { Length: > 0 } && r.SlotName == slot)
                          ?? senders.FirstOrDefault(r => appName is not null && r.ApplicationName == appName);
                if (row is not null) claimed.Add((primary, row.Pid));
                rows[standby] = row;
            }
            foreach (var standby in mine.Where(s => rows[s] is null))
            {
                var row = SenderByAddress(senders.Where(r => !claimed.Contains((primary, r.Pid))).ToList(), standby, standbyReads[standby].State);
                if (row is not null) claimed.Add((primary, row.Pid));
                rows[standby] = row;
            }
            // Standbys that the primary shows but that were not given.
            var unlisted = senders.Where(r => showsAll && !claimed.Contains((primary, r.Pid)))
                .Select(r => (Name: $"{r.ApplicationName}@{r.ClientAddr ?? "local"}", Row: r)).ToList();

            // The primary's security findings, once for all its standbys: weak replication lines, and a superuser role
            // any of them logs in as (by pg_stat_replication, or by its own primary_conninfo when it does not stream).
            var logins = mine.SelectMany(s => new[] { rows[s]?.UserName, ConninfoUser(standbyReads[s]) }.OfType<string>().Distinct().Select(role => (role, s.Name)))
                .Concat(unlisted.Where(u => u.Row.UserName is not null).Select(u => (u.Row.UserName!, u.Name)))
                .ToList();
            var primaryFindings = PrimaryFindings(primary, reading, logins);
            foreach (var standby in mine)
            {
                var read = standbyReads[standby];
                var findings = StandbyFindings(standby, primary, read).Concat(primaryFindings).ToList();
                results.Add(Build(standby.Name, standby, primary, rows[standby], read.State, read.Error, primaryTimeline, archiverFailing, primaryLsn, wal, options, findings,
                    ApplyDelayOf(read), failoverChecks.GetValueOrDefault(standby), archive));
            }
            foreach (var (name, row) in unlisted)
                results.Add(Build(name, null, primary, row, null, null, primaryTimeline, archiverFailing, primaryLsn, wal, options, primaryFindings, archive: archive));
        }
        foreach (var orphan in standbys.Where(s => !results.Any(r => r.StandbyNode == s)))
            results.Add(Unreachable(orphan, null, $"no primary is known for {orphan.Name}: give the primary node too"));
        results.AddRange(SplitBrain(givenPrimaries));
        return results;
    }

    /// <summary>
    /// The WAL sender of a standby that has no slot and no application_name of its own (built by hand): one whose client
    /// address is the standby's, under the name its WAL receiver gives itself (cluster_name, else "walreceiver"), without
    /// a slot (a slot would be another standby's); of several (two standbys on one host), the one at the standby's own
    /// replay position. Never one that merely carries a shared name.
    /// </summary>
    internal static WalSender? SenderByAddress(IReadOnlyList<WalSender> senders, PgNode standby, ReplicationState? facts)
    {
        if (facts is null) return null;
        var addresses = AddressesOf(standby.ComputerName);
        if (NullIfEmpty(facts.ServerAddress) is { } own) addresses.Add(own);
        var name = ApplicationName(facts.ReceiverConninfo) ?? NullIfEmpty(facts.ClusterName) ?? "walreceiver";
        var candidates = senders.Where(r => r.ClientAddr is { } client && addresses.Contains(client) &&
                                            r.ApplicationName == name && r.SlotName is null).ToList();
        if (candidates.Count <= 1) return candidates.FirstOrDefault();
        var replayed = facts.ReplayLsn;
        return candidates.OrderBy(r => Lsn.Distance(r.ReplayLsn, replayed) is { } d ? Math.Abs(d) : long.MaxValue).First();
    }

    private static HashSet<string> AddressesOf(string computerName)
    {
        var addresses = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var bare = computerName.Trim('[', ']');
        if (System.Net.IPAddress.TryParse(bare, out var ip)) addresses.Add(ip.ToString());
        else
        {
            try { foreach (var a in System.Net.Dns.GetHostAddresses(bare)) addresses.Add((a.IsIPv4MappedToIPv6 ? a.MapToIPv4() : a).ToString()); }
            catch (System.Net.Sockets.SocketException) { }
        }
        return addresses;
    }

    /// <summary>
    /// Two given primaries of one cluster (same system identifier) both accept writes: each but the newest
    /// (highest timeline) is reported as a standby that is not read-only, so the split brain fails the check.
    /// </summary>
    private static IEnumerable<ReplicationHealth> SplitBrain(IReadOnlyCollection<PgNode> primaries)
    {
        foreach (var cluster in primaries.Where(p => p.Role == NodeRole.Primary && p.SystemIdentifier is not null).GroupBy(p => p.SystemIdentifier))
        {
            var ordered = cluster.OrderByDescending(p => p.Timeline ?? 0).ToList();
            if (ordered.Count < 2) continue;
            var newest = ordered[0];
            foreach (var stray in ordered.Skip(1))
                yield return new ReplicationHealth
                {
                    Standby = stray.Name, Primary = newest.Name, State = "split-brain", StandbyTimeline = stray.Timeline, PrimaryTimeline = newest.Timeline,
                    Checks = new[]
                    {
                        new HealthCheck("standby read-only", false,
                            $"{stray.Name} (timeline {stray.Timeline}) and {newest.Name} (timeline {newest.Timeline}) are both primaries of system {cluster.Key} and accept writes: " +
                            $"split brain. Turn {stray.Name} into a standby (Restore-PgStandby -Primary {newest.Name}) before anything writes to it."),
                    },
                    StandbyNode = stray, PrimaryNode = newest,
                };
        }
    }

    /// <summary>
    /// What a primary (or an upstream standby) said, or why it said nothing. Superusers: role -> bootstrap; WeakLines is
    /// null when the role may not read pg_hba_file_rules.
    /// </summary>
    private sealed record PrimaryReading(List<WalSender>? Senders, long ArchiverFailing, string? Lsn, PrimaryWal? Wal, string? Error,
        IReadOnlyDictionary<string, bool>? Superusers = null, IReadOnlyList<HbaRuleRow>? WeakLines = null, string? ArchiveCommand = null, string? LastArchivedWal = null);

    /// <summary>The primary's findings: weak replication lines in its pg_hba.conf, superuser roles its standbys log in as.</summary>
    private static IReadOnlyList<SecurityFinding> PrimaryFindings(PgNode primary, PrimaryReading reading, IReadOnlyList<(string Role, string UsedBy)> logins)
    {
        // Only a primary's: Set-PgMasterConfig and New-PgReplicationUser, the fixes, work on a primary.
        if (primary.Role != NodeRole.Primary) return Array.Empty<SecurityFinding>();
        var findings = new List<SecurityFinding>();
        if (reading.WeakLines is { } weak) findings.AddRange(SecurityChecks.WeakReplicationLines(primary.Name, primary.HbaFile, weak));
        if (reading.Superusers is { } superusers)
            findings.AddRange(SecurityChecks.SuperuserRoles(primary.Name, superusers, primary.AdminCredential?.UserName, logins));
        return findings;
    }

    /// <summary>The standby's own findings: a password in its primary_conninfo, a trigger file anyone can create.</summary>
    private static IEnumerable<SecurityFinding> StandbyFindings(PgNode standby, PgNode primary, StandbyReading read)
    {
        if (read.State is not { } facts || standby.MajorVersion is not { } major) yield break;
        var settings = SecurityChecks.Settings(major, standby.DataDirectory, facts.PrimaryConninfoSetting, facts.PrimaryConninfoFile, facts.PromoteTriggerFile, facts.RecoveryConf);
        if (SecurityChecks.PasswordInConninfo(standby.Name, facts.InRecovery, primary.Name, major, settings) is { } password) yield return password;
        if (SecurityChecks.TriggerFile(standby.Name, primary.Name, major, settings) is { } trigger) yield return trigger;
    }

    /// <summary>The role a standby logs in as: its primary_conninfo's user (the receiver's view shows it, the password hidden).</summary>
    private static string? ConninfoUser(StandbyReading read) =>
        read.State is not { } facts ? null
        : SecurityChecks.UserOf(facts.PrimaryConninfoSetting) ?? Conninfo.DisplayedValue(facts.ReceiverConninfo, "user")
          ?? (facts.RecoveryConf is { } text && OfflineSettings.Read(text).GetValueOrDefault("primary_conninfo") is { } c ? SecurityChecks.UserOf(c) : null);

    private static async Task<PrimaryReading> ReadPrimaryAsync(PgNode primary, IOperationLog log)
    {
        try
        {
            using var p = await PgSession.OpenAsync(primary, log, pooled: true).ConfigureAwait(false);
            // One round trip for everything, the node's own facts too: while 7 standbys are read at once on 2
            // cores, the primary's statements one after another were the check's longest path.
            var major = primary.MajorVersion ?? VersionRules.NewestMajor;
            var results = await p.QueryBatchAsync(new[]
            {
                NodeDiscovery.FactsQuery,
                ReplicationStateReader.SendersQuery,
                // An upstream standby (a cascade) has no insert position: what it received is as far as its standbys can get.
                $"SELECT ({WalPosition.Expression})::text AS lsn",
                ArchiverFailuresQuery,
                "SELECT pg_catalog.pg_size_bytes(pg_catalog.current_setting('wal_segment_size')) AS segment_bytes",
                // wal_status came with max_slot_wal_keep_size (13): NULL before.
                ReplicationStateReader.SlotsQuery(major),
                SecurityChecks.SuperusersQuery,
            }, new[]
            {
                // The oldest WAL file still there: listing pg_wal needs superuser or pg_monitor, and without it only
                // the cause of a gap goes unnamed.
                "SELECT pg_catalog.min(w.name) AS oldest FROM pg_catalog.pg_ls_waldir() w WHERE w.name ~ '^[0-9A-F]{24}$'",
                // Weak replication lines: pg_hba_file_rules is a superuser's; without it they go unreported.
                SecurityChecks.WeakReplicationLinesQuery(major),
                // Which archive the primary pushes to (a pgBackRest repository is then read too), and the last file it archived.
                "SELECT pg_catalog.current_setting('archive_command') AS command, a.last_archived_wal FROM pg_catalog.pg_stat_archiver a",
            }).ConfigureAwait(false);
            NodeDiscovery.Apply(primary, results[0]!.Single(), NullOperationLog.Instance);
            var senders = results[1]!.Select(ReplicationStateReader.SenderOf).ToList();
            var lsn = results[2]!.Single()[0]?.ToString();
            var archiverFailing = Convert.ToInt64(results[3]!.Single()[0] ?? 0L, CultureInfo.InvariantCulture);
            var segmentBytes = Convert.ToInt64(results[4]!.Single()[0], CultureInfo.InvariantCulture);
            var slots = results[5]!.ToDictionary(r => r.Text("slot_name")!, r => r.Text("wal_status"));
            var superusers = results[6]!.ToDictionary(r => r.Text("role")!, r => r.Get<bool>("bootstrap"), StringComparer.Ordinal);
            var oldest = results[7]?.Single().Text("oldest");
            var weak = results[8]?.Select(HbaRuleRow.From).ToList();
            var archive = results[9]?.Single();
            return new PrimaryReading(senders, archiverFailing, lsn, new PrimaryWal(oldest, segmentBytes, slots), null, superusers, weak,
                archive?.Text("command"), archive?.Text("last_archived_wal"));
        }
        catch (Exception ex) when (ex is PgConnectionException or PgQueryException)
        {
            return new PrimaryReading(null, 0, null, null, ex.Message);
        }
    }

    /// <summary>What the primary has of its WAL and slots: enough to say why a standby cannot stream.</summary>
    internal sealed record PrimaryWal(string? OldestSegment, long SegmentBytes, IReadOnlyDictionary<string, string?> SlotWalStatus);

    /// <summary>
    /// True when the primary no longer has the WAL segment a standby needs next to stream (the one holding its
    /// replay position): it was removed (no slot kept it) and the standby cannot catch up by streaming.
    /// </summary>
    internal static bool WalRemoved(string? standbyReplayLsn, string? oldestSegment, long segmentBytes) =>
        segmentBytes > 0 && Lsn.Parse(standbyReplayLsn) is { } replay && Lsn.SegmentOfFile(oldestSegment, segmentBytes) is { } oldest &&
        Lsn.Segment(replay, segmentBytes) < oldest;

    /// <summary>recovery_min_apply_delay of a standby: its setting from 12, the line of recovery.conf before; 0 when unknown.</summary>
    private static TimeSpan ApplyDelayOf(StandbyReading read)
    {
        try { return StandbyReplay.ParseDelay(read.State?.ApplyDelay); } catch (FormatException) { return TimeSpan.Zero; }
    }

    /// <summary>
    /// One standby's checks from what both sides said (no I/O): the primary's WAL sender for it (null when none),
    /// the standby's own state (null when it did not answer), the primary's position, WAL and slots.
    /// </summary>
    internal static ReplicationHealth Build(string name, PgNode? standby, PgNode primary, WalSender? row, ReplicationState? facts, string? standbyError,
        int? primaryTimeline, long archiverFailing, string? primaryLsn, PrimaryWal wal, ReplicationCheckOptions options, IReadOnlyList<SecurityFinding> findings,
        TimeSpan applyDelay = default, HealthCheck? failoverSlots = null, HealthCheck? archive = null)
    {
        // A delayed standby (recovery_min_apply_delay) replays late on purpose: its lag is what it has not received yet,
        // and its replay may be late by the delay on top of the threshold.
        var delayed = applyDelay > TimeSpan.Zero;
        var checks = new List<HealthCheck>();
        var state = row?.State ?? (standbyError is not null ? "unreachable" : "stopped");
        // The standby's own replay position is exact; the primary's copy (pg_stat_replication.replay_lsn) comes
        // with the standby's last status message and is null until the first one.
        var lag = delayed
            ? Lsn.Distance(primaryLsn, facts?.ReceiveLsn) ?? Lsn.Distance(primaryLsn, row?.FlushLsn)
            : Lsn.Distance(primaryLsn, facts?.ReplayLsn) ?? row?.LagBytes;
        var replayLag = row?.ReplayLagSeconds is double secs ? TimeSpan.FromSeconds(secs) : (TimeSpan?)null;
        // A standby that does not answer is still reported by its slot (the one the node was set up with): a
        // stopped standby whose slot was lost needs a new copy, and says so before anyone starts it.
        var slotName = row?.SlotName ?? facts?.Slot
                       ?? (facts is null ? standby?.SlotName : null);
        var slotWalStatus = slotName is null ? null : wal.SlotWalStatus.GetValueOrDefault(slotName);
        int? standbyTimeline = facts?.ReceivedTimeline ?? standby?.Timeline;

        if (standby is not null)
            checks.Add(new("connected", standbyError is null, standbyError ?? $"{standby.Name} answers"));
        checks.Add(new("streaming", state == "streaming",
            row is null ? $"{primary.Name} shows no WAL sender for {name} (matched by its slot, its application_name, or its address)" : $"state is {state}"));
        // Not streaming: say so when the reason is WAL the primary no longer has.
        if (row is null && facts is not null && slotWalStatus is null or "lost" && WalRemoved(facts.ReplayLsn, wal.OldestSegment, wal.SegmentBytes))
            checks.Add(new("WAL still on the primary", false,
                $"{primary.Name} has removed WAL {name} needs (it replayed up to {facts.ReplayLsn}; the oldest segment left is {wal.OldestSegment}): " +
                "it cannot catch up by streaming. Take a new copy (Restore-PgStandby -Reclone), or give it a restore_command that reads a WAL archive."));
        if (facts is not null)
        {
            var sysid = facts.SystemIdentifier;
            var same = sysid == primary.SystemIdentifier?.ToString(CultureInfo.InvariantCulture);
            checks.Add(new("same system identifier", same, same ? sysid! : $"{name} has {sysid}, {primary.Name} has {primary.SystemIdentifier}"));
            var sameTl = standbyTimeline is null || standbyTimeline == primaryTimeline;
            checks.Add(new("same timeline", sameTl, $"standby {standbyTimeline?.ToString(CultureInfo.InvariantCulture) ?? "?"}, primary {primaryTimeline}"));
            var paused = facts.ReplayPaused;
            checks.Add(new("replay not paused", !paused, paused ? "WAL replay is paused (pg_wal_replay_resume() resumes it)" : "replaying"));
            var readOnly = facts.InRecovery && facts.ReadOnly == "on";
            checks.Add(new("standby read-only", readOnly, readOnly ? "in recovery, read-only" : $"{name} is not in recovery: it accepts writes"));
        }
        if (row is not null)
        {
            var lagOk = lag is null || lag <= options.MaxLagBytes;
            var maxReplayLag = options.MaxLag + applyDelay;
            var timeOk = replayLag is null || replayLag <= maxReplayLag;
            var measured = $"replay lag {replayLag?.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture) ?? "0"} s (max {maxReplayLag.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture)})";
            checks.Add(new("lag under threshold", lagOk && timeOk, delayed
                ? $"delayed on purpose by {StandbyReplay.Describe(applyDelay)} (recovery_min_apply_delay), not lagging: {lag?.ToString(CultureInfo.InvariantCulture) ?? "?"} bytes not yet received (max {options.MaxLagBytes}), {measured}"
                : $"{lag?.ToString(CultureInfo.InvariantCulture) ?? "?"} bytes (max {options.MaxLagBytes}), {measured}"));
        }
        // lost: the slot's WAL was removed (max_slot_wal_keep_size); unreserved: it will be at the next checkpoint.
        var slotWalOk = slotWalStatus is not ("lost" or "unreserved");
        var slotOk = slotName is null ? true : row?.SlotActive is true && slotWalOk;
        checks.Add(new("slot healthy", slotOk, slotName is null ? "no slot used"
            : !slotWalOk ? $"slot {slotName} has wal_status {slotWalStatus}: {primary.Name} " + (slotWalStatus == "lost"
                ? "removed WAL the standby needs (max_slot_wal_keep_size); take a new copy (Restore-PgStandby -Reclone)"
                : "will remove WAL the standby needs at its next checkpoint (max_slot_wal_keep_size)")
            : slotOk ? $"slot {slotName} active" : $"slot {slotName} is not active"));
        checks.Add(new("archiver not failing", archiverFailing == 0,
            archiverFailing == 0 ? "no failed archiving since the last success" : $"{archiverFailing} failed attempts, the last after the last success"));
        if (failoverSlots is not null) checks.Add(failoverSlots);
        if (archive is not null) checks.Add(archive);

        return new ReplicationHealth
        {
            Standby = name, Primary = primary.Name, State = state,
            SentLsn = row?.SentLsn, WriteLsn = row?.WriteLsn, FlushLsn = row?.FlushLsn, ReplayLsn = row?.ReplayLsn,
            LagBytes = lag, ReplayLag = replayLag, SyncState = row?.SyncState, SlotName = slotName,
            SlotActive = row?.SlotActive, SlotWalStatus = slotWalStatus, ApplyDelay = delayed ? applyDelay : null, PrimaryTimeline = primaryTimeline, StandbyTimeline = standbyTimeline,
            Checks = checks, SecurityFindings = findings, StandbyNode = standby, PrimaryNode = primary,
        };
    }

    private static ReplicationHealth Unreachable(PgNode standby, PgNode? primary, string message) => new()
    {
        Standby = standby.Name, Primary = primary?.Name, State = "unreachable",
        Checks = new[] { new HealthCheck("connected", false, message) }, StandbyNode = standby, PrimaryNode = primary,
    };

    /// <summary>What a standby said, or why it said nothing.</summary>
    private sealed record StandbyReading(ReplicationState? State, string? Error);

    private static async Task<StandbyReading> ReadStandbyAsync(PgNode standby, IOperationLog log)
    {
        try
        {
            using var s = await PgSession.OpenAsync(standby, log, connectTimeout: TimeSpan.FromSeconds(5), pooled: true).ConfigureAwait(false);
            return new StandbyReading(await ReplicationStateReader.ReadAsync(s, standby).ConfigureAwait(false), null);
        }
        catch (Exception ex) when (ex is PgConnectionException or PgQueryException)
        {
            return new StandbyReading(null, ex.Message);
        }
    }

    private static PgNode? PrimaryFromUpstream(PgNode standby, IOperationLog log)
    {
        var upstream = standby.Upstream;
        if (upstream is null)
        {
            var facts = ReadStandbyAsync(standby, log).GetAwaiter().GetResult().State;
            upstream = NodeDiscovery.UpstreamFromConninfo(facts?.ReceiverConninfo);
        }
        if (upstream is null || !NodeAddress.TryParse(upstream, out var address, out _)) return null;
        var node = NodeFactory.Create(address, PgNode.DefaultPort, new NodeSettings { AdminCredential = standby.AdminCredential, Local = standby.Access == HostAccess.Local && NodeFactory.IsLoopback(address.Host) });
        node.Ssh = standby.Ssh;
        return node;
    }

    private static void TryDiscover(PgNode node, IOperationLog log)
    {
        try { NodeDiscovery.Discover(node, log); } catch (Exception ex) when (ex is PgConnectionException or PgQueryException) { }
    }

    private static bool Follows(PgNode standby, PgNode primary) =>
        standby.UpstreamNode is { } u ? SameEndpoint(u, primary)
        : standby.Upstream is { } text && NodeAddress.TryParse(text, out var a, out _) && a.Host == primary.ComputerName && (a.Port ?? PgNode.DefaultPort) == primary.Port;

    private static bool SameEndpoint(PgNode a, PgNode b) => a.ComputerName == b.ComputerName && a.Port == b.Port;

    private static string? NullIfEmpty(string? s) => string.IsNullOrEmpty(s) ? null : s;

    private static string? ApplicationName(string? conninfo) => Conninfo.DisplayedValue(conninfo, "application_name");
}
