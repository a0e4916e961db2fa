using System.Diagnostics;
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
            ? (reachable.Count > 0 ? Promotion.BestOf(reachable) : throw new PromotionRefusedException("NoCandidate", "No candidate answered."))
            : reachable.FirstOrDefault(p => Promotion.Matches(p.Node, name))
              ?? throw new PromotionRefusedException("NoCandidate", $"No reachable candidate is named '{name}'.");
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
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            try
            {
                using var session = PgSession.Open(node, log: NullOperationLog.Instance, connectTimeout: TimeSpan.FromSeconds(3));
                if (!session.Scalar<bool>("SELECT pg_catalog.pg_is_in_recovery()")) break;
            }
            catch (Exception ex) when (ex is PgConnectionException or PgQueryException) { }
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"{node.Name} did not accept writes within {timeout.TotalSeconds:0} s of Patroni's failover.");
            Thread.Sleep(ServerController.PollInterval);
        }
        summary.TimeToWritable = clock.Elapsed;
        NodeDiscovery.Discover(node, NullOperationLog.Instance);
        summary.NewTimeline = node.Timeline;
        summary.Steps.Add($"{node.Name} accepts writes on timeline {node.Timeline}; Patroni re-points the other members");
        return summary;
    }

    /// <summary>The Patroni member that is this node: by its connect address, else by its member name (the node's slot name).</summary>
    public static PatroniMember? MemberFor(PgNode node, PatroniClusterState cluster) =>
        cluster.Members.FirstOrDefault(m => string.Equals(m.Host, node.ComputerName, StringComparison.OrdinalIgnoreCase) && (m.Port ?? PgNode.DefaultPort) == node.Port)
        ?? cluster.Members.FirstOrDefault(m => m.Name == SlotNames.FromNodeName(node.Name) || m.Name == node.SlotName);
}
