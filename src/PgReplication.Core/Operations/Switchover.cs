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
        NodeDiscovery.Discover(primary, log);
        if (primary.Role != NodeRole.Primary)
            throw new PromotionRefusedException("NotAPrimary", $"{primary.Name} is not a primary (Role {primary.Role}): a switchover starts from the primary.", primary);
        var position = StandbyPositions.Read(standby, log);
        if (!position.Reachable || !position.InRecovery)
            throw new PromotionRefusedException("NotAStandby", $"{standby.Name} is {(position.Reachable ? "not in recovery" : "unreachable: " + position.Error)}: it cannot take over.", standby);
        if (standby.DataDirectory is null) NodeDiscovery.Discover(standby, log);
        if (standby.SystemIdentifier != primary.SystemIdentifier)
            throw new PromotionRefusedException("NotAStandby", $"{standby.Name} is not a copy of {primary.Name} (system identifiers differ).", standby);

        long lag;
        bool streaming;
        using (var session = PgSession.Open(standby, log: log))
            streaming = session.Scalar<string>("SELECT r.status FROM pg_catalog.pg_stat_wal_receiver r") == "streaming";
        using (var session = PgSession.Open(primary, log: log))
            lag = session.Scalar<long?>("SELECT pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), @replay::pg_lsn)::bigint",
                ("replay", position.ReplayLsn ?? "0/0")) ?? long.MaxValue;
        if (!streaming)
            throw new PromotionRefusedException("StandbyNotStreaming", $"{standby.Name} is not streaming from its primary: a switchover needs a standby that is caught up. Check it with Test-PgReplication.", standby);
        if (lag > request.MaxLagBytes)
            throw new PromotionRefusedException("CandidateBehind", $"{standby.Name} is {lag} bytes behind {primary.Name}, more than -MaxLagBytes {request.MaxLagBytes}: nothing was changed. Retry when it has caught up.", standby);

        var plan = new SwitchoverPlan { Standby = position, LagBytes = lag };
        plan.Steps.Add($"shut down {primary.Name} cleanly (fast mode, shutdown checkpoint) and read its final checkpoint from pg_controldata");
        plan.Steps.Add($"wait until {standby.Name} has replayed that checkpoint (it is {lag} bytes behind now)");
        plan.Steps.Add($"promote {standby.Name}");
        plan.Steps.Add($"make {primary.Name} a standby of {standby.Name} (slot, primary_conninfo, standby.signal, start) and check it streams");
        foreach (var s in request.Siblings) plan.Steps.Add($"re-point {s.Name} to {standby.Name}");
        return plan;
    }

    public static PromotionSummary Apply(SwitchoverRequest request, SwitchoverPlan plan, IOperationLog log)
    {
        var (primary, standby) = (request.Primary, request.Standby);
        var clock = Stopwatch.StartNew();
        var summary = new PromotionSummary { NewPrimary = standby.Name, OldPrimary = primary.Name, OldTimeline = primary.Timeline };
        // The old primary's own passfile may lack an entry for the new one: carry the standby's role over.
        var replication = request.Replication ?? standby.ReplicationCredential ?? primary.ReplicationCredential;
        if (replication is null)
        {
            using var shell = HostShells.Open(standby, log);
            replication = StandbyFollow.CurrentReplicationCredential(standby, shell)
                ?? throw new ArgumentException($"No replication role for {primary.Name} to follow {standby.Name}: give -Credential.");
        }

        // Open until the old primary follows the new one: one SSH login for its stop and its rejoin.
        using var primaryShell = HostShells.Open(primary, log);
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

        // The old primary stopped exactly where the new one forked: it follows without a rewind.
        var rejoined = StandbyFollow.TryFollow(new FollowRequest { Standby = primary, Primary = standby, Replication = replication, Timeout = request.Timeout }, log, primaryShell);
        summary.Siblings.Add(rejoined);
        foreach (var sibling in request.Siblings.Where(s => s != primary && s != standby))
            summary.Siblings.Add(StandbyFollow.TryFollow(new FollowRequest { Standby = sibling, Primary = standby, Replication = request.Replication, Timeout = request.Timeout }, log));
        summary.TimeToSiblingsStreaming = clock.Elapsed;
        foreach (var s in summary.Siblings) summary.Steps.Add(s.ToString());
        return summary;
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
