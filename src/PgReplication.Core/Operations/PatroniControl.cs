using System.Diagnostics;
using System.Text;
using PgReplication.Core.Hosts;
using PgReplication.Core.Model;
using PgReplication.Core.Sql;

namespace PgReplication.Core.Operations;

/// <summary>What the manual cmdlets do instead when Patroni manages the cluster: they ask Patroni, never act behind its back.</summary>
public static class PatroniControl
{
    /// <summary>The first of the nodes that carries the Patroni marker, with the marker; null when none does (or none answers).</summary>
    public static (PgNode Node, PatroniMarker Marker)? FindManaged(IEnumerable<PgNode> nodes, IOperationLog log)
    {
        var reads = nodes.Distinct().Select(n => (Node: n, Read: Concurrently.Start(() => AutoFailover.ReadMarker(n, log, TimeSpan.FromSeconds(5))))).ToList();
        foreach (var (node, read) in reads)
            if (read.Join() is { } marker) return (node, marker);
        return null;
    }

    /// <summary>
    /// Asks Patroni for a failover to the chosen candidate (-Name, else the most advanced reachable one), then waits until that
    /// node accepts writes. Patroni re-points the other members itself.
    /// </summary>
    public static PromotionSummary Failover(IReadOnlyList<PgNode> candidates, string? name, PatroniMarker marker, TimeSpan timeout, IOperationLog log)
    {
        var positions = candidates.Select(c => Concurrently.Start(() => StandbyPositions.Read(c, log, TimeSpan.FromSeconds(5)))).Select(t => t.Join()).ToList();
        var reachable = positions.Where(p => p.Reachable).ToList();
        var chosen = name is null
            ? (reachable.Count > 0 ? Promotion.BestOf(reachable) : throw new PromotionRefusedException(ErrorReasons.NoCandidate, "No candidate answered."))
            : reachable.FirstOrDefault(p => Promotion.Matches(p.Node, name))
              ?? throw new PromotionRefusedException(ErrorReasons.NoCandidate, $"No reachable candidate is named '{name}'.");
        var node = chosen.Node;
        var clock = Stopwatch.StartNew();
        using var shell = HostShells.Open(node, log);
        var credential = AutoFailover.RestApiCredential(shell, node, HostFiles.HomeOf(shell, node.OsUser) + "/autofailover")
            ?? throw new InvalidOperationException($"{node.Name} has no Patroni configuration with a REST API login: is it a member?");
        using var api = new PatroniApi(node.ComputerName, marker.ApiPort, marker.CaCertificate, credential);
        var cluster = api.Cluster();
        var member = MemberFor(node, cluster)
            ?? throw new InvalidOperationException($"Patroni's cluster {cluster.Scope} has no member at {node.ComputerName}:{node.Port}.");
        var summary = new PromotionSummary { NewPrimary = node.Name, OldPrimary = cluster.Leader?.Name, OldTimeline = chosen.Timeline };
        if (!chosen.InRecovery)
        {
            summary.Steps.Add($"nothing to do: {node.Name} is already the primary");
            return summary;
        }
        log.Verbose($"Asking Patroni for a failover to {member.Name}.");
        summary.Steps.Add($"Patroni: {api.Failover(member.Name).Trim()}");
        WaitWritable(node, timeout);
        summary.TimeToWritable = clock.Elapsed;
        NodeDiscovery.Discover(node, NullOperationLog.Instance);
        summary.NewTimeline = node.Timeline;
        summary.Steps.Add($"{node.Name} accepts writes on timeline {node.Timeline}; Patroni re-points the other members");
        return summary;
    }

    /// <summary>
    /// A switchover carried out by Patroni (POST /switchover), after the same zero-loss checks as the module's own: the
    /// standby streams and is within -MaxLagBytes. Patroni shuts the leader down cleanly (its WAL senders send everything up
    /// to the shutdown checkpoint), promotes the candidate and makes the old leader its standby; this waits for both.
    /// </summary>
    public static PromotionSummary Switchover(SwitchoverRequest request, PatroniMarker marker, IOperationLog log)
    {
        var (primary, standby) = (request.Primary, request.Standby);
        var (position, lag) = Operations.Switchover.ProveCaughtUp(request, log);
        var clock = Stopwatch.StartNew();
        using var shell = HostShells.Open(standby, log);
        var credential = AutoFailover.RestApiCredential(shell, standby, HostFiles.HomeOf(shell, standby.OsUser) + "/autofailover")
            ?? throw new InvalidOperationException($"{standby.Name} has no Patroni configuration with a REST API login: is it a member?");
        using var api = new PatroniApi(standby.ComputerName, marker.ApiPort, marker.CaCertificate, credential, TimeSpan.FromSeconds(30));
        var cluster = api.Cluster();
        var leader = MemberFor(primary, cluster) ?? throw new InvalidOperationException($"Patroni's cluster {cluster.Scope} has no member at {primary.ComputerName}:{primary.Port}.");
        var candidate = MemberFor(standby, cluster) ?? throw new InvalidOperationException($"Patroni's cluster {cluster.Scope} has no member at {standby.ComputerName}:{standby.Port}.");
        var summary = new PromotionSummary { NewPrimary = standby.Name, OldPrimary = primary.Name, OldTimeline = primary.Timeline };
        summary.Steps.Add($"{standby.Name} streams, {lag} bytes behind {primary.Name}");
        log.Verbose($"Asking Patroni to switch over from {leader.Name} to {candidate.Name}.");
        var promoteStart = clock.Elapsed;
        summary.Steps.Add($"Patroni: {api.Switchover(leader.Name, candidate.Name).Trim()}");
        WaitWritable(standby, request.Timeout);
        summary.TimeToWritable = clock.Elapsed - promoteStart;
        NodeDiscovery.Discover(standby, NullOperationLog.Instance);
        summary.NewTimeline = standby.Timeline;
        summary.Siblings.Add(WaitStreaming(primary, standby, request.Timeout));
        foreach (var sibling in request.Siblings.Where(s => s != primary && s != standby))
            summary.Siblings.Add(WaitStreaming(sibling, standby, request.Timeout));
        summary.TimeToSiblingsStreaming = clock.Elapsed;
        foreach (var s in summary.Siblings) summary.Steps.Add(s.ToString());
        return summary;
    }

    /// <summary>What Restore-PgStandby does to a member of a cluster Patroni manages, decided from Patroni's view and the node's receiver alone.</summary>
    public sealed record ReinitializeDecision(bool Reinitialize, IReadOnlyList<string> Steps);

    /// <summary>
    /// Pure: a member that streams from the leader needs nothing (unless -Reclone: a new copy anyway); any other is
    /// reinitialised by Patroni (POST /reinitialize: a new base backup from the leader). The leader itself is refused.
    /// </summary>
    public static ReinitializeDecision DecideReinitialize(PgNode node, PatroniMember member, PatroniMember? leader, string? streamingFrom, bool reclone)
    {
        if (member.IsLeader)
            throw new RefusedException(ErrorReasons.PatroniLeader,
                $"{node.Name} is Patroni's leader (member {member.Name}): it is the primary, there is nothing to restore. Invoke-PgSwitchover first to make it a standby. Nothing was changed.", node);
        var leaderHost = leader?.Host;
        var streams = streamingFrom is not null && leaderHost is not null && string.Equals(streamingFrom, leaderHost, StringComparison.OrdinalIgnoreCase);
        if (streams && !reclone)
            return new ReinitializeDecision(false, new[] { $"nothing to do: {node.Name} (member {member.Name}) streams from Patroni's leader {leader!.Name}" });
        return new ReinitializeDecision(true, new[]
        {
            $"ask Patroni to reinitialise member {member.Name} (POST /reinitialize): its data directory is replaced by a new base backup from the leader {leader?.Name ?? "(none now: Patroni waits for one)"}" +
            (streams ? " (-Reclone: it streams already)" : $" ({(streamingFrom is null ? "it does not stream" : "it streams from " + streamingFrom)}, state {member.State})"),
            $"wait until {node.Name} streams from the leader",
        });
    }

    /// <summary>Reads what <see cref="DecideReinitialize"/> needs: Patroni's cluster (through the node's own REST API) and where the node streams from.</summary>
    public static (PatroniMember Member, PatroniMember? Leader, string? StreamingFrom) ReadReinitializeFacts(PgNode node, PatroniMarker marker, IOperationLog log)
    {
        using var api = new PatroniApi(node.ComputerName, marker.ApiPort, marker.CaCertificate, timeout: TimeSpan.FromSeconds(10));
        var cluster = api.Cluster();
        var member = MemberFor(node, cluster) ?? throw new InvalidOperationException($"Patroni's cluster {cluster.Scope} has no member at {node.ComputerName}:{node.Port}.");
        return (member, cluster.Leader, StreamingFrom(node));
    }

    /// <summary>POST /reinitialize to the member itself, then waits until its server was started again and streams from the leader.</summary>
    public static PgNode Reinitialize(PgNode node, PatroniMarker marker, TimeSpan timeout, IOperationLog log)
    {
        using var shell = HostShells.Open(node, log);
        var credential = AutoFailover.RestApiCredential(shell, node, HostFiles.HomeOf(shell, node.OsUser) + "/autofailover")
            ?? throw new InvalidOperationException($"{node.Name} has no Patroni configuration with a REST API login: is it a member?");
        using var api = new PatroniApi(node.ComputerName, marker.ApiPort, marker.CaCertificate, credential, TimeSpan.FromSeconds(30));
        var started = StartTime(node);
        log.Verbose($"Asking Patroni to reinitialise {node.Name}.");
        api.Reinitialize();
        var deadline = DateTime.UtcNow + timeout;
        string? last = null;
        while (true)
        {
            // Streaming from the old server does not count: the new copy's postmaster started after the request.
            try
            {
                var cluster = api.Cluster();
                var leader = cluster.Leader?.Host;
                if (StartTime(node) is { } now && now != started && leader is not null && string.Equals(StreamingFrom(node), leader, StringComparison.OrdinalIgnoreCase))
                {
                    NodeDiscovery.Discover(node, NullOperationLog.Instance);
                    log.Verbose($"{node.Name}: reinitialised, streams from {leader}.");
                    return node;
                }
                last = $"member state {MemberFor(node, cluster)?.State ?? "?"}";
            }
            catch (Exception ex) when (ex is PatroniApiException or PgConnectionException or PgQueryException) { last = ex.Message; }
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"{node.Name} did not stream from Patroni's leader within {timeout.TotalSeconds:0} s of the reinitialisation ({last}); see ~postgres/autofailover/patroni.log there.");
            Thread.Sleep(500);
        }
    }

    /// <summary>
    /// A delayed standby on a cluster Patroni manages: recovery_min_apply_delay goes into the member's own Patroni
    /// configuration (Patroni strips recovery settings from postgresql.auto.conf), with the nofailover tag while it is
    /// delayed; POST /reload makes Patroni apply both. Waits until the server and Patroni show them.
    /// </summary>
    public static void SetApplyDelay(PgNode standby, PatroniMarker marker, TimeSpan delay, TimeSpan timeout, IOperationLog log)
    {
        using var shell = HostShells.Open(standby, log);
        var path = HostFiles.HomeOf(shell, standby.OsUser) + "/autofailover/patroni.yml";
        var text = HostFiles.ReadText(shell, path, standby.OsUser);
        HostFiles.Write(shell, path, Encoding.UTF8.GetBytes(AutoFailoverConfig.WithApplyDelay(text, delay)), "0600", standby.OsUser);
        log.Verbose($"{standby.Name}: {path} has recovery_min_apply_delay {StandbyReplay.Describe(delay)}, nofailover {delay > TimeSpan.Zero}.");
        var credential = AutoFailover.RestApiCredentialOf(text) ?? throw new InvalidOperationException($"{path} on {standby.Name} has no REST API login.");
        using var api = new PatroniApi(standby.ComputerName, marker.ApiPort, marker.CaCertificate, credential, TimeSpan.FromSeconds(30));
        api.Reload();
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var tagged = MemberFor(standby, api.Cluster())?.NoFailover == delay > TimeSpan.Zero;
            if (tagged && StandbyReplay.Read(standby, NullOperationLog.Instance).ApplyDelay == delay) return;
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"Patroni on {standby.Name} had not applied recovery_min_apply_delay {StandbyReplay.Describe(delay)} (and the nofailover tag) {timeout.TotalSeconds:0} s after POST /reload.");
            Thread.Sleep(200);
        }
    }

    /// <summary>Patroni's view added to the health check's results: the manager, the leader, each standby's member state. Pure.</summary>
    public static void Annotate(IEnumerable<ReplicationHealth> results, PatroniClusterState cluster)
    {
        foreach (var r in results)
        {
            r.Manager = "patroni";
            r.Leader = cluster.Leader?.Name;
            var member = r.StandbyNode is { } node ? MemberFor(node, cluster) : null;
            r.MemberRole = member?.Role;
            r.MemberState = member?.State;
            r.PendingRestart = member?.PendingRestart;
            r.NoFailover = member?.NoFailover;
        }
    }

    /// <summary>The cluster as the first of the nodes' REST APIs that answers sees it (read-only, no login); null when none answers.</summary>
    public static PatroniClusterState? ClusterOf(IEnumerable<PgNode> nodes, PatroniMarker marker, IOperationLog log)
    {
        foreach (var n in nodes.Distinct())
        {
            try
            {
                using var api = new PatroniApi(n.ComputerName, marker.ApiPort, marker.CaCertificate, timeout: TimeSpan.FromSeconds(5));
                return api.Cluster();
            }
            catch (PatroniApiException ex) { log.Verbose($"{n.Name}: {ex.Message}"); }
        }
        return null;
    }

    private static string? StartTime(PgNode node)
    {
        try
        {
            using var session = PgSession.Open(node, log: NullOperationLog.Instance, connectTimeout: TimeSpan.FromSeconds(3));
            return session.Scalar<string>("SELECT pg_catalog.pg_postmaster_start_time()::text");
        }
        catch (Exception ex) when (ex is PgConnectionException or PgQueryException) { return null; }
    }

    /// <summary>The host the node's WAL receiver streams from; null when it does not stream (or does not answer).</summary>
    private static string? StreamingFrom(PgNode node)
    {
        try
        {
            using var session = PgSession.Open(node, log: NullOperationLog.Instance, connectTimeout: TimeSpan.FromSeconds(3));
            var row = session.Query("SELECT r.status, r.sender_host FROM pg_catalog.pg_stat_wal_receiver r").FirstOrDefault();
            return row?.Text("status") == "streaming" ? row.Text("sender_host") : null;
        }
        catch (Exception ex) when (ex is PgConnectionException or PgQueryException) { return null; }
    }

    private static void WaitWritable(PgNode node, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            try
            {
                using var session = PgSession.Open(node, log: NullOperationLog.Instance, connectTimeout: TimeSpan.FromSeconds(3));
                if (!session.Scalar<bool>("SELECT pg_catalog.pg_is_in_recovery()")) return;
            }
            catch (Exception ex) when (ex is PgConnectionException or PgQueryException) { }
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"{node.Name} did not accept writes within {timeout.TotalSeconds:0} s of asking Patroni.");
            Thread.Sleep(ServerController.PollInterval);
        }
    }

    /// <summary>Waits (Patroni re-points the members) until <paramref name="follower"/> streams from <paramref name="upstream"/>.</summary>
    private static FollowOutcome WaitStreaming(PgNode follower, PgNode upstream, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        string? last = null;
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                using var session = PgSession.Open(follower, log: NullOperationLog.Instance, connectTimeout: TimeSpan.FromSeconds(3));
                var row = session.Query("SELECT r.status, r.sender_host, r.received_tli FROM pg_catalog.pg_stat_wal_receiver r").FirstOrDefault();
                if (row?.Text("status") == "streaming" && string.Equals(row.Text("sender_host"), upstream.ComputerName, StringComparison.OrdinalIgnoreCase))
                    return new FollowOutcome { Standby = follower.Name, Upstream = upstream.Name, Streaming = true, Timeline = row["received_tli"] as int?, Node = follower };
                last = row is null ? "no WAL receiver runs" : $"WAL receiver {row.Text("status")} from {row.Text("sender_host")}";
            }
            catch (Exception ex) when (ex is PgConnectionException or PgQueryException) { last = ex.Message; }
            Thread.Sleep(ServerController.PollInterval);
        }
        return new FollowOutcome { Standby = follower.Name, Upstream = upstream.Name, Streaming = false, Error = $"not streaming after {timeout.TotalSeconds:0} s ({last})", Node = follower };
    }

    /// <summary>The Patroni member that is this node: by its connect address, else by its member name (the node's slot name).</summary>
    public static PatroniMember? MemberFor(PgNode node, PatroniClusterState cluster) =>
        cluster.Members.FirstOrDefault(m => string.Equals(m.Host, node.ComputerName, StringComparison.OrdinalIgnoreCase) && (m.Port ?? PgNode.DefaultPort) == node.Port)
        ?? cluster.Members.FirstOrDefault(m => m.Name == SlotNames.FromNodeName(node.Name) || m.Name == node.SlotName);
}
