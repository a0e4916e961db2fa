using System.Net;
using PgReplication.Core.Model;
using PgReplication.Core.Operations;

namespace PgReplication.Core.Tests;

/// <summary>
/// Which old primary a promotion probes while its candidates are read (issue 19), and when that answer stands in for
/// the probe after the reads.
/// </summary>
public sealed class PromotionEarlyProbeTests
{
    private static readonly NetworkCredential Admin = new("postgres", "secret");

    private static PgNode Standby(string name, string? upstream = null, PgNode? upstreamNode = null, NetworkCredential? credential = null) =>
        new(name) { Upstream = upstream, UpstreamNode = upstreamNode, AdminCredential = credential ?? Admin };

    private static PromotionRequest Request(PgNode? oldPrimary, params PgNode[] candidates) => new() { Candidates = candidates, OldPrimary = oldPrimary };

    [Fact]
    public void The_old_primary_given_is_probed_at_once_with_the_candidates_credential_when_it_has_none()
    {
        var db1 = new PgNode("db1");
        var early = Promotion.EarlyProbeTarget(Request(db1, Standby("db2"), Standby("db3")));
        Assert.NotNull(early);
        Assert.Same(db1, early!.Value.Node);
        Assert.Same(Admin, early.Value.Credential);
        // After the reads the same node gets the same credential (ShareAdminCredential): the early answer stands.
        PgNode.ShareAdminCredential(Standby("db2"), db1);
        Assert.True(Promotion.IsSameProbe(early.Value, db1));
    }

    [Fact]
    public void The_upstream_the_candidates_were_discovered_following_is_probed_at_once()
    {
        var early = Promotion.EarlyProbeTarget(Request(null, Standby("db2", upstream: "10.0.0.1:5433"), Standby("db3", upstream: "10.0.0.1:5433")));
        Assert.NotNull(early);
        Assert.Equal("10.0.0.1", early!.Value.Node.ComputerName);
        Assert.Equal(5433, early.Value.Node.Port);
        Assert.Same(Admin, early.Value.Credential);
    }

    [Fact]
    public void A_known_upstream_node_and_a_host_without_port_count()
    {
        var db1 = new PgNode("db1", 5434);
        Assert.Equal(5434, Promotion.EarlyProbeTarget(Request(null, Standby("db2", upstreamNode: db1)))!.Value.Node.Port);
        var byHost = Promotion.EarlyProbeTarget(Request(null, Standby("db2", upstream: "db1")))!.Value.Node;
        Assert.Equal(("db1", PgNode.DefaultPort), (byHost.ComputerName, byHost.Port));
    }

    [Fact]
    public void Nothing_is_probed_early_when_the_old_primary_is_not_known_yet()
    {
        Assert.Null(Promotion.EarlyProbeTarget(Request(null, Standby("db2"), Standby("db3"))));
    }

    [Fact]
    public void A_cascade_upstream_that_is_a_candidate_is_not_probed()
    {
        var db2 = Standby("db2", upstream: "db1");
        Assert.Null(Promotion.EarlyProbeTarget(Request(null, db2, Standby("db3", upstream: "db2"), Standby("db4", upstream: "db2"))));
    }

    [Fact]
    public void Candidates_each_holding_a_copy_of_one_login_are_probed_early()
    {
        var db2 = Standby("db2", upstream: "db1", credential: new NetworkCredential("postgres", "secret"));
        Assert.NotNull(Promotion.EarlyProbeTarget(Request(null, db2, Standby("db3", upstream: "db1"))));
    }

    [Fact]
    public void Candidates_with_different_credentials_wait_for_the_sequential_probe()
    {
        var other = new NetworkCredential("admin", "other");
        Assert.Null(Promotion.EarlyProbeTarget(Request(new PgNode("db1"), Standby("db2"), Standby("db3", credential: other))));
    }

    [Fact]
    public void The_early_answer_stands_only_for_the_same_address_port_and_credential()
    {
        var probed = new Promotion.OldPrimaryProbe(new PgNode("10.0.0.1"), Admin);
        Assert.True(Promotion.IsSameProbe(probed, new PgNode("10.0.0.1") { AdminCredential = Admin }));
        // The conninfo names another host or port than discovery had: probed again, after the reads.
        Assert.False(Promotion.IsSameProbe(probed, new PgNode("10.0.0.9") { AdminCredential = Admin }));
        Assert.False(Promotion.IsSameProbe(probed, new PgNode("10.0.0.1", 5433) { AdminCredential = Admin }));
        Assert.False(Promotion.IsSameProbe(probed, new PgNode("10.0.0.1") { AdminCredential = new NetworkCredential("postgres", "other") }));
        Assert.False(Promotion.IsSameProbe(probed, new PgNode("10.0.0.1")));
        // A copy of the same login (each node given -Credential holds its own) is the same login.
        Assert.True(Promotion.IsSameProbe(probed, new PgNode("10.0.0.1") { AdminCredential = new NetworkCredential("postgres", "secret") }));
    }
}
