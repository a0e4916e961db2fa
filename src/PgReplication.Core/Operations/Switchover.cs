using System.Diagnostics;
using System.Net;
using System.Text.RegularExpressions;
using PgReplication.Core.Hosts;
using PgReplication.Core.Model;
using PgReplication.Core.Sql;

namespace PgReplication.Core.Operations;

public sealed class SwitchoverRequest
{
    public required PgNode Primary { get; init; }
    /// <summary>The standby that becomes the primary.</summary>
    public required PgNode Standby { get; init; }
    public IReadOnlyList<PgNode> Siblings { get; init; } = Array.Empty<PgNode>();
    public long MaxLagBytes { get; init; } = 16L * 1024 * 1024;
    public NetworkCredential? Replication { get; init; }
    public TimeSpan Timeout { get; init; } = TimeSpan.FromMinutes(2);
}

public sealed class SwitchoverPlan
{
    public required StandbyPosition Standby { get; init; }
    public long LagBytes { get; init; }
    /// <summary>The role and password the old primary will stream from the new one with: proved before the demotion.</summary>
    public required NetworkCredential Replication { get; init; }
    /// <summary>Each sibling's login to the new primary (the one it uses now, or -Credential): proved before the demotion.</summary>
    public required IReadOnlyDictionary<PgNode, NetworkCredential> SiblingLogins { get; init; }
    /// <summary>The replication lines the new primary's pg_hba.conf lacks for its followers: added before the demotion.</summary>
    public IReadOnlyList<PrimaryConfigPlan> FollowerAdmission { get; init; } = Array.Empty<PrimaryConfigPlan>();
    public List<string> Steps { get; } = new();
}

/// <summary>
/// Swaps a primary and one of its standbys with no lost transaction: the primary is shut down cleanly
/// (its shutdown checkpoint is the last WAL it writes, and its WAL senders send everything before they
/// exit), the standby replays up to that checkpoint, is promoted, and the old primary follows it.
/// </summary>
public static class Switchover
{
    public static SwitchoverPlan Prepare(SwitchoverRequest request, IOperationLog log)
    {
        var (primary, standby) = (request.Primary, request.Standby);
        var (position, lag) = ProveCaughtUp(request, log);
        var (replication, siblingLogins) = ProveFollowerLogins(request, log);
        var admission = ProveFollowerAdmission(request, replication, siblingLogins, log);
        var plan = new SwitchoverPlan { Standby = position, LagBytes = lag, Replication = replication, SiblingLogins = siblingLogins, FollowerAdmission = admission };
        foreach (var change in admission.SelectMany(a => a.Changes)) plan.Steps.Add($"{change.Description} on {standby.Name}, before anything is stopped");
        plan.Steps.Add($"shut down {primary.Name} cleanly (fast mode, shutdown checkpoint) and read its final checkpoint from pg_controldata");
        plan.Steps.Add($"wait until {standby.Name} has replayed that checkpoint (it is {lag} bytes behind now)");
        plan.Steps.Add($"promote {standby.Name}");
        plan.Steps.Add($"make {primary.Name} a standby of {standby.Name} (slot, primary_conninfo, standby.signal, start) and check it streams");
        foreach (var s in request.Siblings) plan.Steps.Add($"re-point {s.Name} to {standby.Name}");
        return plan;
    }

    /// <summary>
    /// The zero-loss preconditions of a switchover, whoever carries it out (this module or Patroni): the primary is a
    /// primary, the standby a streaming copy of it, no further behind than -MaxLagBytes. Returns its position and lag.
    /// </summary>
    internal static (StandbyPosition Position, long Lag) ProveCaughtUp(SwitchoverRequest request, IOperationLog log)
    {
        var (primary, standby) = (request.Primary, request.Standby);
        NodeDiscovery.Discover(primary, log);
        if (primary.Role != NodeRole.Primary)
            throw new PromotionRefusedException(ErrorReasons.NotPrimary, $"{primary.Name} is not a primary (Role {primary.Role}): a switchover starts from the primary.", primary);
        var position = StandbyPositions.Read(standby, log);
        if (!position.Reachable || !position.InRecovery)
            throw new PromotionRefusedException(ErrorReasons.NotAStandby, $"{standby.Name} is {(position.Reachable ? "not in recovery" : "unreachable: " + position.Error)}: it cannot take over.", standby);
        if (standby.DataDirectory is null) NodeDiscovery.Discover(standby, log);
        if (standby.SystemIdentifier != primary.SystemIdentifier)
            throw new PromotionRefusedException(ErrorReasons.NotAStandby, $"{standby.Name} is not a copy of {primary.Name} (system identifiers differ).", standby);

        long lag;
        bool streaming;
        using (var session = PgSession.Open(standby, log: log))
            streaming = session.Scalar<string>("SELECT r.status FROM pg_catalog.pg_stat_wal_receiver r") == "streaming";
        using (var session = PgSession.Open(primary, log: log))
            lag = session.Scalar<long?>("SELECT pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), @replay::pg_lsn)::bigint",
                ("replay", position.ReplayLsn ?? "0/0")) ?? long.MaxValue;
        if (!streaming)
            throw new PromotionRefusedException(ErrorReasons.StandbyNotStreaming, $"{standby.Name} is not streaming from its primary: a switchover needs a standby that is caught up. Check it with Test-PgReplication.", standby);
        if (lag > request.MaxLagBytes)
            throw new PromotionRefusedException(ErrorReasons.CandidateBehind, $"{standby.Name} is {lag} bytes behind {primary.Name}, more than -MaxLagBytes {request.MaxLagBytes}: nothing was changed. Retry when it has caught up.", standby);

        return (position, lag);
    }

    public static PromotionSummary Apply(SwitchoverRequest request, SwitchoverPlan plan, IOperationLog log)
    {
        var (primary, standby) = (request.Primary, request.Standby);
        var clock = Stopwatch.StartNew();
        var summary = new PromotionSummary { NewPrimary = standby.Name, OldPrimary = primary.Name, OldTimeline = primary.Timeline };
        // Open until the old primary follows the new one: one SSH login for its stop and its rejoin.
        using var primaryShell = HostShells.Open(primary, log);
        // The followers' pg_hba lines go in first: if the file cannot take them, nothing has been stopped yet.
        foreach (var admission in plan.FollowerAdmission)
        {
            PrimaryConfig.Apply(admission, admission.Changes, restart: false, request.Timeout, log);
            summary.Steps.AddRange(admission.Changes.Select(c => $"{c.Description} on {standby.Name}"));
        }
        var siblingShells = StandbyFollow.OpenShells(request.Siblings.Where(s => s != primary && s != standby), log);
        try { SwapRoles(request, plan, primaryShell, siblingShells, clock, summary, log); }
        finally { StandbyFollow.CloseShells(siblingShells); }
        return summary;
    }

    private static void SwapRoles(SwitchoverRequest request, SwitchoverPlan plan, IHostShell primaryShell,
        IReadOnlyDictionary<PgNode, Task<IHostShell>> siblingShells, Stopwatch clock, PromotionSummary summary, IOperationLog log)
    {
        var (primary, standby) = (request.Primary, request.Standby);
        ServerController.Stop(primary, primaryShell, log, request.Timeout);
        var finalCheckpoint = CleanShutdownCheckpoint(primary, primaryShell);
        summary.Steps.Add($"shut down {primary.Name} cleanly; final checkpoint {Lsn.Format(finalCheckpoint)}");
        log.Verbose($"{primary.Name}: shut down cleanly, final checkpoint at {Lsn.Format(finalCheckpoint)}.");
        try { WaitForReplay(standby, finalCheckpoint, request.Timeout, log); }
        catch (Exception)
        {
            // Nothing was promoted: bring the primary back, so the cluster keeps its one primary.
            ServerController.Start(primary, primaryShell, log, request.Timeout);
            summary.Steps.Add($"{standby.Name} did not replay the final checkpoint: restarted {primary.Name} as the primary");
            throw;
        }

        var promoteStart = clock.Elapsed;
        Promotion.PromoteAndWait(standby, plan.Standby.Timeline, request.Timeout, summary, log);
        summary.TimeToWritable = clock.Elapsed - promoteStart;

        // The old primary stopped exactly where the new one forked: it follows without a rewind. It and the siblings are
        // re-pointed at once; the siblings' logins were opened during the wait and the promotion.
        var followers = new List<FollowRequest> { new() { Standby = primary, Primary = standby, Replication = plan.Replication, Timeout = request.Timeout } };
        followers.AddRange(request.Siblings.Where(s => s != primary && s != standby).Distinct().Select(sibling => new FollowRequest
        {
            Standby = sibling, Primary = standby, Replication = plan.SiblingLogins.GetValueOrDefault(sibling) ?? request.Replication, Timeout = request.Timeout,
        }));
        var shells = siblingShells.ToDictionary(p => p.Key, p => p.Value);
        shells[primary] = Task.FromResult(primaryShell);
        summary.Siblings.AddRange(StandbyFollow.FollowAll(followers, shells, log));
        summary.TimeToSiblingsStreaming = clock.Elapsed;
        foreach (var s in summary.Siblings) summary.Steps.Add(s.ToString());
    }

    /// <summary>
    /// The login each follower will use with the new primary (the old primary: -Credential, else the role the new primary
    /// streams with now; a sibling: -Credential, else its own), each checked against the role's verifier on the primary.
    /// Refused here, before anything is stopped: a switchover whose followers cannot log in leaves a primary with no standby.
    /// </summary>
    private static (NetworkCredential, IReadOnlyDictionary<PgNode, NetworkCredential>) ProveFollowerLogins(SwitchoverRequest request, IOperationLog log)
    {
        var (primary, standby) = (request.Primary, request.Standby);
        var siblings = request.Siblings.Where(s => s != primary && s != standby).Distinct().ToList();
        NetworkCredential? Current(PgNode node)
        {
            using var shell = HostShells.Open(node, log);
            return StandbyFollow.CurrentReplicationCredential(node, shell);
        }
        var fromStandby = request.Replication is null && standby.ReplicationCredential is null && primary.ReplicationCredential is null
            ? Concurrently.Start(() => Current(standby)) : null;
        var siblingReads = request.Replication is null
            ? siblings.ToDictionary(s => s, s => Concurrently.Start(() => { try { return Current(s); } catch (HostCommandException) { return null; } }))
            : new();

        var (replication, source) = request.Replication is { } given ? (given, "-Credential")
            : standby.ReplicationCredential is { } own ? (own, $"the role {standby.Name} was set up with")
            : primary.ReplicationCredential is { } carried ? (carried, $"the role {primary.Name} carries")
            : (fromStandby!.Join() ?? throw new ArgumentException($"No replication role for {primary.Name} to follow {standby.Name}: give -Credential."),
               $"{standby.Name}'s primary_conninfo or passfile");
        var logins = new Dictionary<PgNode, NetworkCredential>();
        var refusals = new List<string>();
        using var session = PgSession.Open(primary, log: log);
        if (ReplicationLogin.Refusal(session, replication, primary.Name, standby.Name, source, log) is { } refused) refusals.Add(refused);
        foreach (var sibling in siblings)
        {
            var login = request.Replication ?? siblingReads[sibling].Join();
            if (login is null) { log.Warning($"{sibling.Name}: its replication login could not be read; it is re-pointed with its own settings."); continue; }
            logins[sibling] = login;
            var from = request.Replication is null ? $"{sibling.Name}'s primary_conninfo or passfile" : "-Credential";
            if (ReplicationLogin.Refusal(session, login, sibling.Name, standby.Name, from, log) is { } no) refusals.Add(no);
        }
        if (refusals.Count > 0)
            throw new PromotionRefusedException(ErrorReasons.ReplicationLoginRefused,
                $"{string.Join("; ", refusals)}. Nothing was changed: give -Credential with the replication role's password.", primary);
        return (replication, logins);
    }

    /// <summary>
    /// What the new primary must offer its followers, proved before the demotion: a pg_hba.conf that admits each of them
    /// (lines it lacks are planned, and added first thing in Apply) and room for their slots and WAL senders.
    /// </summary>
    private static IReadOnlyList<PrimaryConfigPlan> ProveFollowerAdmission(SwitchoverRequest request, NetworkCredential replication,
        IReadOnlyDictionary<PgNode, NetworkCredential> siblingLogins, IOperationLog log)
    {
        var (primary, standby) = (request.Primary, request.Standby);
        var followers = new List<(PgNode Node, string Role)> { (primary, replication.UserName) };
        followers.AddRange(request.Siblings.Where(s => s != primary && s != standby).Distinct()
            .Select(s => (s, (siblingLogins.GetValueOrDefault(s) ?? request.Replication ?? replication).UserName)));
        // One session to the standby for both proofs: its pg_hba.conf and its room for slots and senders.
        using var session = PgSession.Open(standby, log: log);
        var plans = new List<PrimaryConfigPlan>();
        try
        {
            foreach (var group in followers.GroupBy(f => f.Role, StringComparer.Ordinal))
                plans.Add(PrimaryConfig.PlanFollowerAdmission(standby, session, group.Select(f => f.Node.ComputerName).Distinct().ToList(), group.Key, log));
        }
        catch (Exception ex) when (ex is InvalidOperationException or HostCommandException or PgQueryException)
        {
            throw new PromotionRefusedException(ErrorReasons.FollowerNotAdmitted,
                $"{standby.Name} could not be made to admit its followers' replication connections: {ex.Message} Nothing was changed.", standby);
        }

        var row = session.Query("""
            SELECT pg_catalog.current_setting('max_replication_slots')::int AS max_slots,
                   pg_catalog.current_setting('max_wal_senders')::int AS max_senders,
                   (SELECT pg_catalog.array_agg(s.slot_name::text) FROM pg_catalog.pg_replication_slots s) AS slots,
                   (SELECT pg_catalog.count(*) FROM pg_catalog.pg_stat_replication)::int AS senders
            """).Single();
        var capacity = new FollowerCapacity(row.Get<int>("max_slots"), row.Get<string[]?>("slots") ?? Array.Empty<string>(),
            row.Get<int>("max_senders"), row.Get<int>("senders"));
        // Their primary_slot_name is read only when they follow: a slot kept under that name on the new primary is not
        // seen here, so at worst one slot too many is counted (a refusal to raise max_replication_slots, never a short count).
        var slotNames = followers.Select(f => SlotNames.ForFollower(f.Node)).ToList();
        if (capacity.Refusal(standby.Name, slotNames) is { } refusal)
            throw new PromotionRefusedException(ErrorReasons.FollowerNotAdmitted, refusal + " Nothing was changed.", standby);
        return plans.Where(p => p.Changes.Count > 0).ToList();
    }

    /// <summary>The final checkpoint of a cleanly shut down server, from pg_controldata; refuses anything but "shut down".</summary>
    private static ulong CleanShutdownCheckpoint(PgNode node, IHostShell shell)
    {
        var control = ControlData.Read(node, shell);
        var state = control.GetValueOrDefault("Database cluster state");
        if (state != "shut down")
            throw new InvalidOperationException($"{node.Name} is '{state}' after its shutdown, not 'shut down': its last WAL may not have reached the standby.");
        return Lsn.Parse(control.GetValueOrDefault("Latest checkpoint location"))
            ?? throw new InvalidOperationException($"pg_controldata on {node.Name} shows no latest checkpoint location.");
    }

    /// <summary>Waits until the standby has replayed past <paramref name="lsn"/> (the old primary's shutdown checkpoint record).</summary>
    private static void WaitForReplay(PgNode standby, ulong lsn, TimeSpan timeout, IOperationLog log)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            using (var session = PgSession.Open(standby, log: NullOperationLog.Instance))
                if (Lsn.Parse(session.Scalar<string>("SELECT pg_catalog.pg_last_wal_replay_lsn()::text")) is { } replayed && replayed > lsn)
                {
                    log.Verbose($"{standby.Name}: replayed the final checkpoint ({Lsn.Format(replayed)}).");
                    return;
                }
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"{standby.Name} did not replay the old primary's final checkpoint {Lsn.Format(lsn)} within {timeout.TotalSeconds:0} s.");
            log.Progress(new OperationProgress($"Switchover to {standby.Name}", "waiting for the final WAL"));
            Thread.Sleep(50);
        }
    }
}

/// <summary>What a node about to become an upstream has room for: slots and WAL senders, as its settings and state are now.</summary>
public sealed record FollowerCapacity(int MaxSlots, IReadOnlyCollection<string> Slots, int MaxWalSenders, int SendersInUse)
{
    /// <summary>Why these followers (by the slot each will use) would not all fit, or null when they do.</summary>
    public string? Refusal(string upstream, IReadOnlyCollection<string> followerSlots)
    {
        var newSlots = followerSlots.Distinct(StringComparer.Ordinal).Count(s => !Slots.Contains(s, StringComparer.Ordinal));
        if (Slots.Count + newSlots > MaxSlots)
            return $"{upstream} has max_replication_slots = {MaxSlots} with {Slots.Count} in use: its {followerSlots.Count} followers need {newSlots} more. Raise max_replication_slots on {upstream} (a restart), or drop slots no one uses.";
        if (SendersInUse + followerSlots.Count > MaxWalSenders)
            return $"{upstream} has max_wal_senders = {MaxWalSenders} with {SendersInUse} in use: its {followerSlots.Count} followers need one each. Raise max_wal_senders on {upstream} (a restart).";
        return null;
    }
}

