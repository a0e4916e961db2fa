using System.Globalization;
using PgReplication.Core.Hosts;
using PgReplication.Core.Model;
using PgReplication.Core.Sql;
using PgReplication.Core.Versions;

namespace PgReplication.Core.Operations;

/// <summary>What one node said about itself (or why it said nothing): the plain input of <see cref="Topology.Build"/>.</summary>
public sealed class NodeReading
{
    public required PgNode Node { get; init; }
    /// <summary>Primary, Standby, or Unreachable with <see cref="Error"/>.</summary>
    public NodeRole Role { get; init; }
    public string? Error { get; init; }
    public ulong? SystemIdentifier { get; init; }
    public int? Timeline { get; init; }
    /// <summary>A primary's pg_current_wal_lsn(), a standby's pg_last_wal_replay_lsn().</summary>
    public string? Lsn { get; init; }
    public string? ReceiveLsn { get; init; }
    public bool ReplayPaused { get; init; }
    /// <summary>pg_stat_wal_receiver.status; null when no WAL receiver runs.</summary>
    public string? ReceiverStatus { get; init; }
    /// <summary>Where the standby streams from: sender_host/sender_port, or its primary_conninfo when no receiver runs.</summary>
    public string? UpstreamHost { get; init; }
    public int? UpstreamPort { get; init; }
    public string? Slot { get; init; }
    public IReadOnlyList<WalSender> Senders { get; init; } = Array.Empty<WalSender>();
    public IReadOnlyList<ReplicationSlot> Slots { get; init; } = Array.Empty<ReplicationSlot>();
    /// <summary>The Patroni marker setting of the node, when Patroni manages it.</summary>
    public PatroniMarker? Patroni { get; init; }
}

/// <summary>
/// The cluster as its nodes see it, one row per given node: every node is asked in parallel, then
/// <see cref="Build"/> (no I/O) places each one in the tree and gives it a status.
/// </summary>
public static class Topology
{
    /// <summary>
    /// Reads every node at once, each within <paramref name="timeout"/> (connect and each query), and returns
    /// the rows in tree order. A node that cannot be read is a row with Status unreachable, never an exception.
    /// </summary>
    public static List<TopologyRow> Read(IReadOnlyList<PgNode> nodes, TimeSpan timeout, IOperationLog log)
    {
        // A thread of its own per node: the connects block, and a node that hangs must not hold up the others.
        var reads = nodes.Select(n => Concurrently.Start(() => ReadNode(n, timeout, log))).ToArray();
        Task.WaitAll(reads);
        var readings = reads.Select(t => t.Result).ToList();
        return Build(readings, PatroniState(readings, timeout, log));
    }

    /// <summary>The cluster as the first managed node's Patroni REST API that answers sees it; null when none is managed or none answers.</summary>
    private static PatroniClusterState? PatroniState(IReadOnlyList<NodeReading> readings, TimeSpan timeout, IOperationLog log)
    {
        foreach (var r in readings.Where(r => r.Patroni is not null))
        {
            try
            {
                using var api = new PatroniApi(r.Node.ComputerName, r.Patroni!.ApiPort, r.Patroni.CaCertificate, timeout: timeout);
                return api.Cluster();
            }
            catch (PatroniApiException ex) { log.Verbose($"{r.Node.Name}: {ex.Message}"); }
        }
        return null;
    }

    private static NodeReading ReadNode(PgNode node, TimeSpan timeout, IOperationLog log)
    {
        try
        {
            using var shell = node.Ssh?.UseTunnel == true ? HostShells.Open(node, log) : null;
            // Pooled like Test-PgReplication's reads, but not through a tunnel: its local port dies with the shell.
            using var session = PgSession.Open(node, log: log, connectTimeout: timeout, commandTimeout: timeout,
                via: shell is null ? null : HostShells.SqlEndpoint(node, shell), pooled: shell is null);
            NodeDiscovery.Discover(node, session, log);
            var patroni = AutoFailover.ReadMarker(session);
            return ReadingOf(node, ReplicationStateReader.Read(session, node, ReplicationStateParts.Downstream), patroni);
        }
        // Whatever one node does (refuses us, times out, runs 9.6, fails its SSH host key) is that node's row:
        // the view exists to show the broken parts of a cluster.
        catch (Exception ex)
        {
            node.Role = NodeRole.Unreachable;
            node.LastError = ex.Message;
            log.Verbose($"{node.Name}: {ex.Message}");
            return new NodeReading { Node = node, Role = NodeRole.Unreachable, Error = ex.Message };
        }
    }

    /// <summary>
    /// A discovered node's row input from its replication state (no I/O): a standby sits under its WAL receiver's
    /// sender, or where its primary_conninfo points when no receiver runs; its slot is the receiver's, the configured
    /// one, or the one it was set up with.
    /// </summary>
    public static NodeReading ReadingOf(PgNode node, ReplicationState state, PatroniMarker? patroni)
    {
        if (node.Role == NodeRole.Primary)
            return new NodeReading
            {
                Node = node, Role = NodeRole.Primary, SystemIdentifier = node.SystemIdentifier, Timeline = node.Timeline,
                Lsn = state.CurrentLsn, Senders = state.Senders, Slots = state.Slots, Patroni = patroni,
            };
        return new NodeReading
        {
            Node = node, Role = NodeRole.Standby, SystemIdentifier = node.SystemIdentifier,
            Timeline = state.ReceivedTimeline ?? node.Timeline,
            Lsn = state.ReplayLsn, ReceiveLsn = state.ReceiveLsn, ReplayPaused = state.ReplayPaused,
            ReceiverStatus = state.ReceiverStatus,
            UpstreamHost = state.SenderHost ?? state.ConfiguredUpstreamHost,
            UpstreamPort = state.SenderPort ?? state.ConfiguredUpstreamPort,
            Slot = state.Slot ?? node.SlotName,
            Senders = state.Senders, Slots = state.Slots, Patroni = patroni,
        };
    }

    /// <summary>
    /// Places each node under its upstream (matched by host:port against the given nodes), gives it a status,
    /// and orders the rows depth-first from each primary, then from the nodes whose upstream is not given
    /// (or not known), then the unreachable ones.
    /// </summary>
    public static List<TopologyRow> Build(IReadOnlyList<NodeReading> readings, PatroniClusterState? patroni = null)
    {
        var managed = readings.Any(r => r.Patroni is not null);
        var primaries = readings.Where(r => r.Role == NodeRole.Primary).ToList();
        var parent = readings.ToDictionary(r => r, r => r.Role == NodeRole.Standby
            ? readings.FirstOrDefault(u => u != r && IsUpstreamOf(u, r)) : null);
        var children = readings.ToLookup(r => parent[r]);

        NodeReading Root(NodeReading r)
        {
            // Bounded: standbys that name each other as upstream have no root.
            for (var i = 0; i < readings.Count && parent[r] is { } up; i++) r = up;
            return r;
        }

        TopologyRow Row(NodeReading r, int depth)
        {
            var root = Root(r);
            var rootPrimary = root.Role == NodeRole.Primary && root != r ? root : null;
            // A standby whose upstream is not given is still compared with the primary when there is only one.
            var reference = rootPrimary ?? (primaries.Count == 1 ? primaries[0] : null);
            var (status, message) = StatusOf(r, reference, primaries);
            var up = parent[r];
            var member = patroni is null ? null : MemberOf(r, patroni);
            return new TopologyRow
            {
                Manager = managed ? "patroni" : null, Leader = patroni?.Leader?.Name,
                MemberRole = member?.Role ?? (managed ? "unknown" : null), MemberState = member?.State, PendingRestart = member?.PendingRestart,
                Name = r.Node.Name, ComputerName = r.Node.ComputerName, Port = r.Node.Port, Role = r.Role,
                Status = status, Message = message, Depth = depth, Node = r.Node,
                Upstream = up?.Node.Name ?? Endpoint(r.UpstreamHost, r.UpstreamPort),
                Timeline = r.Timeline, Lsn = r.Lsn, Slot = r.Slot,
                LagBytes = rootPrimary is null ? null : Lsn.Distance(rootPrimary.Lsn, r.Lsn),
                SyncState = up is null ? null : SenderFor(up, r)?.SyncState,
            };
        }

        var rows = new List<TopologyRow>();
        var seen = new HashSet<NodeReading>();
        void Walk(NodeReading r, int depth)
        {
            if (!seen.Add(r)) return;
            rows.Add(Row(r, depth));
            foreach (var child in children[r]) Walk(child, depth + 1);
        }
        foreach (var root in readings.Where(r => parent[r] is null).OrderBy(r => r.Role switch
                 { NodeRole.Primary => 0, NodeRole.Standby => 1, _ => 2 }))
            Walk(root, 0);
        foreach (var r in readings) Walk(r, 0); // what a cycle of upstreams left out
        return rows;
    }

    private static (string Status, string? Message) StatusOf(NodeReading r, NodeReading? reference, List<NodeReading> primaries) => r.Role switch
    {
        NodeRole.Unreachable => (TopologyRow.Unreachable, r.Error),
        NodeRole.Primary when primaries.Count > 1 => (TopologyRow.SplitBrain, SplitBrainWarning(primaries.Select(p => p.Node.Name))),
        NodeRole.Primary => (TopologyRow.Running, null),
        _ when primaries.Count == 0 => (TopologyRow.NoPrimary, "none of the given nodes is a primary"),
        _ when reference?.SystemIdentifier is { } id && r.SystemIdentifier is { } own && own != id =>
            (TopologyRow.OtherCluster, $"system identifier {own} is not {reference.Node.Name}'s {id}"),
        _ when r.ReceiverStatus != "streaming" =>
            (TopologyRow.NotStreaming, r.ReceiverStatus is null ? "no WAL receiver runs" : $"the WAL receiver is {r.ReceiverStatus}"),
        _ when r.ReplayPaused => (TopologyRow.ReplayPaused,
            $"WAL replay is paused at {r.Lsn}{(r.ReceiveLsn is null ? "" : $", received up to {r.ReceiveLsn}")} (pg_wal_replay_resume() resumes it)"),
        _ => (TopologyRow.Running, null),
    };

    /// <summary>The warning for more than one primary among the given nodes, or null.</summary>
    public static string? SplitBrainWarning(IEnumerable<string> primaryNames)
    {
        var names = primaryNames.ToList();
        if (names.Count < 2) return null;
        return $"Split brain: {string.Join(", ", names.SkipLast(1))} and {names[^1]} are {(names.Count == 2 ? "both" : "all")} primaries and accept writes.";
    }

    // Patroni's member host is the address its connect_address names; its name is the node's slot name.
    private static PatroniMember? MemberOf(NodeReading r, PatroniClusterState patroni) =>
        patroni.Members.FirstOrDefault(m => string.Equals(m.Host, r.Node.ComputerName, StringComparison.OrdinalIgnoreCase) && (m.Port ?? PgNode.DefaultPort) == r.Node.Port)
        ?? patroni.Members.FirstOrDefault(m => m.Name == SlotNames.FromNodeName(r.Node.Name) || (r.Slot is not null && m.Name == r.Slot));

    private static bool IsUpstreamOf(NodeReading upstream, NodeReading standby) =>
        standby.UpstreamHost is { } host && string.Equals(host, upstream.Node.ComputerName, StringComparison.OrdinalIgnoreCase)
        && (standby.UpstreamPort ?? PgNode.DefaultPort) == upstream.Node.Port;

    // The module names the slot after the standby; the sender that serves it is the slot's active_pid.
    private static WalSender? SenderFor(NodeReading upstream, NodeReading standby) =>
        upstream.Slots.FirstOrDefault(s => s.Name == standby.Slot)?.ActivePid is { } pid
            ? upstream.Senders.FirstOrDefault(s => s.Pid == pid) : null;

    private static string? Endpoint(string? host, int? port) =>
        host is null ? null
        : (host.Contains(':') ? $"[{host}]" : host) + ":" + (port ?? PgNode.DefaultPort).ToString(CultureInfo.InvariantCulture);
}
