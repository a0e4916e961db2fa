using PgReplication.Core.Model;
using PgReplication.Core.Operations;

namespace PgReplication.Core.Tests;

/// <summary>Topology.Build: where each node sits and what its status is, from plain readings.</summary>
public class TopologyTests
{
    private const ulong ClusterId = 7_300_000_000_000_000_001;

    private static NodeReading Primary(string host, string lsn = "0/3000060", ulong id = ClusterId) => new()
    {
        Node = new PgNode(host), Role = NodeRole.Primary, SystemIdentifier = id, Timeline = 1, Lsn = lsn,
    };

    private static NodeReading Standby(string host, string upstream, string lsn = "0/3000000", ulong id = ClusterId,
        string? status = "streaming", bool paused = false) => new()
    {
        Node = new PgNode(host), Role = NodeRole.Standby, SystemIdentifier = id, Timeline = 1, Lsn = lsn,
        ReceiverStatus = status, ReplayPaused = paused, UpstreamHost = upstream, UpstreamPort = 5432, Slot = host.Replace('.', '_'),
    };

    private static NodeReading Dead(string host) => new()
    {
        Node = new PgNode(host), Role = NodeRole.Unreachable, Error = $"Could not connect to PostgreSQL on {host}:5432",
    };

    private static TopologyRow Row(List<TopologyRow> rows, string name) => rows.Single(r => r.Name == name);

    [Fact]
    public void A_primary_and_two_standbys_all_run_with_lag_measured_from_the_primary()
    {
        var rows = Topology.Build([Standby("db2", "db1"), Primary("db1"), Standby("db3", "db1", lsn: "0/3000060")]);

        Assert.Equal(["db1", "db2", "db3"], rows.Select(r => r.Name));
        Assert.All(rows, r => Assert.Equal(TopologyRow.Running, r.Status));
        Assert.All(rows, r => Assert.True(r.IsHealthy));
        Assert.Equal([0, 1, 1], rows.Select(r => r.Depth));
        Assert.Null(Row(rows, "db1").Upstream);
        Assert.Null(Row(rows, "db1").LagBytes);
        Assert.Equal("db1", Row(rows, "db2").Upstream);
        Assert.Equal(0x60L, Row(rows, "db2").LagBytes);
        Assert.Equal(0L, Row(rows, "db3").LagBytes);
        Assert.Equal("db2", Row(rows, "db2").Slot);
    }

    [Fact]
    public void A_cascaded_standby_sits_under_its_standby_at_depth_two_and_the_tree_reads_in_order()
    {
        var rows = Topology.Build([
            Standby("db3", "db2", lsn: "0/2000000"), Standby("db4", "db1"), Standby("db2", "db1"), Primary("db1"),
        ]);

        // Siblings keep the order they were given in; a cascaded standby follows its upstream.
        Assert.Equal(["db1", "db4", "db2", "db3"], rows.Select(r => r.Name));
        Assert.Equal([0, 1, 1, 2], rows.Select(r => r.Depth));
        Assert.Equal(["db1", "└─ db4", "└─ db2", "   └─ db3"], rows.Select(r => r.Tree));
        Assert.Equal("db2", Row(rows, "db3").Upstream);
        Assert.Equal(0x1000060L, Row(rows, "db3").LagBytes); // from the root primary, not from db2
    }

    [Fact]
    public void Two_primaries_are_both_split_brain_and_the_warning_names_both()
    {
        var rows = Topology.Build([Primary("db1"), Standby("db2", "db1"), Primary("db3")]);

        Assert.Equal(TopologyRow.SplitBrain, Row(rows, "db1").Status);
        Assert.Equal(TopologyRow.SplitBrain, Row(rows, "db3").Status);
        Assert.False(Row(rows, "db3").IsHealthy);
        Assert.Equal(TopologyRow.Running, Row(rows, "db2").Status);
        Assert.Equal(["db1", "db2", "db3"], rows.Select(r => r.Name));
        var warning = Topology.SplitBrainWarning(["db1", "db3"]);
        Assert.Equal("Split brain: db1 and db3 are both primaries and accept writes.", warning);
        Assert.Equal(warning, Row(rows, "db1").Message);
        Assert.Null(Topology.SplitBrainWarning(["db1"]));
    }

    [Fact]
    public void An_unreachable_node_is_a_row_after_the_tree_and_its_standbys_hang_under_it()
    {
        var rows = Topology.Build([Dead("db9"), Primary("db1"), Standby("db2", "db1")]);
        Assert.Equal(["db1", "db2", "db9"], rows.Select(r => r.Name));
        var dead = Row(rows, "db9");
        Assert.Equal(NodeRole.Unreachable, dead.Role);
        Assert.Equal(TopologyRow.Unreachable, dead.Status);
        Assert.Contains("db9:5432", dead.Message);
        Assert.Equal(0, dead.Depth);

        // The primary is the dead one: its standbys say so and still show where they stream from.
        var headless = Topology.Build([Standby("db2", "db1", status: null), Dead("db1")]);
        Assert.Equal(["db1", "db2"], headless.Select(r => r.Name));
        Assert.Equal(TopologyRow.NoPrimary, Row(headless, "db2").Status);
        Assert.Equal("db1", Row(headless, "db2").Upstream);
        Assert.Equal(1, Row(headless, "db2").Depth);
        Assert.Null(Row(headless, "db2").LagBytes);
    }

    [Fact]
    public void A_standby_whose_upstream_is_not_given_is_a_root_after_the_primary_tree_with_its_upstream_as_host_port()
    {
        var rows = Topology.Build([Standby("db5", "10.0.0.9"), Primary("db1"), Standby("db2", "db1")]);

        Assert.Equal(["db1", "db2", "db5"], rows.Select(r => r.Name));
        var orphan = Row(rows, "db5");
        Assert.Equal("10.0.0.9:5432", orphan.Upstream);
        Assert.Equal(0, orphan.Depth);
        Assert.Null(orphan.LagBytes);
        Assert.Equal(TopologyRow.Running, orphan.Status);
    }

    [Fact]
    public void A_standby_of_another_cluster_is_flagged_and_so_are_one_not_streaming_and_one_paused()
    {
        var rows = Topology.Build([
            Primary("db1"), Standby("db2", "db1", id: 42), Standby("db3", "db1", status: "waiting"), Standby("db4", "db1", paused: true),
            Standby("db5", "10.0.0.9", id: 42),
        ]);

        Assert.Equal(TopologyRow.OtherCluster, Row(rows, "db2").Status);
        Assert.Contains($"{ClusterId}", Row(rows, "db2").Message);
        Assert.Equal(TopologyRow.OtherCluster, Row(rows, "db5").Status); // compared with the only primary
        Assert.Equal(TopologyRow.NotStreaming, Row(rows, "db3").Status);
        Assert.Contains("waiting", Row(rows, "db3").Message);
        Assert.Equal(TopologyRow.ReplayPaused, Row(rows, "db4").Status);
        Assert.False(Row(rows, "db4").IsHealthy);
    }

    [Fact]
    public void The_sync_state_comes_from_the_sender_serving_the_standbys_slot()
    {
        var primary = new NodeReading
        {
            Node = new PgNode("db1"), Role = NodeRole.Primary, SystemIdentifier = ClusterId, Lsn = "0/3000060",
            Senders = [new WalSender(101, "db2", "10.0.0.2", "streaming", "sync", "0/3000060"), new WalSender(102, "db3", "10.0.0.3", "streaming", "async", null)],
            Slots = [new ReplicationSlot("db3", true, 102, "reserved"), new ReplicationSlot("db2", true, 101, "reserved")],
        };
        var rows = Topology.Build([primary, Standby("db2", "db1"), Standby("db3", "db1")]);
        Assert.Equal("sync", Row(rows, "db2").SyncState);
        Assert.Equal("async", Row(rows, "db3").SyncState);
    }

    [Fact]
    public void Standbys_naming_each_other_as_upstream_still_come_out_once()
    {
        var rows = Topology.Build([Primary("db1"), Standby("db2", "db3"), Standby("db3", "db2")]);
        Assert.Equal(["db1", "db2", "db3"], rows.Select(r => r.Name));
        Assert.Null(Row(rows, "db2").LagBytes);
    }
}
