using System.Net;
using PgReplication.Core.Model;
using PgReplication.Core.Operations;
using Xunit;

namespace PgReplication.Core.Tests;

/// <summary>When a promotion re-points a sibling over SQL alone (ALTER SYSTEM, reload), and when it goes the SSH way.</summary>
public class ReloadFollowTests
{
    private const string Data = "/var/lib/postgresql/15/data";
    private const string AutoConf = Data + "/postgresql.auto.conf";
    private const string Conninfo = "host='10.0.0.11' port='5432' user='replicator' passfile='/var/lib/postgresql/.pgpass' application_name='db3'";

    private static readonly PgNode Sibling = new("10.0.0.13") { Name = "db3" };
    private static readonly PgNode Candidate = new("10.0.0.12") { Name = "db2" };

    // The passfile as the server's query returns it: each password replaced by its class.
    private static ReloadFollowFacts Facts(string passFile = "*:*:*:replicator:p1", string? conninfo = Conninfo, string? source = AutoConf,
        string? slot = "db3", string? slotSource = AutoConf) => new(Data, conninfo, source, slot, slotSource, passFile);

    private static FollowRequest Request(NetworkCredential? replication = null) =>
        new() { Standby = Sibling, Primary = Candidate, Replication = replication, DuringPromotion = new UpstreamPromotion(TimeSpan.FromSeconds(1)) };

    private static (ReloadRepoint? Repoint, string? WhyNot) Decide(ReloadFollowFacts? facts, int? major = 15, FollowRequest? request = null,
        bool credentialIsTheNodes = false) => ReloadFollow.Decide(Sibling, major, Candidate, facts, request ?? Request(), credentialIsTheNodes);

    [Fact]
    public void A_wildcard_line_serves_the_new_upstream_only_the_host_changes()
    {
        var (repoint, whyNot) = Decide(Facts());
        Assert.Null(whyNot);
        Assert.Equal(new[] { "primary_conninfo" }, repoint!.Changes.Keys);
        Assert.Equal(Conninfo.Replace("10.0.0.11", "10.0.0.12"), repoint.Changes["primary_conninfo"]);
        Assert.Equal(Conninfo, repoint.Before["primary_conninfo"]);
        Assert.Equal("replicator", repoint.ReplicationUser);
        Assert.False(repoint.OverTls);
    }

    [Fact]
    public void Lines_for_both_hosts_with_the_same_password_serve()
    {
        var (repoint, _) = Decide(Facts("10.0.0.11:5432:*:replicator:p1\n10.0.0.12:5432:*:replicator:p1"));
        Assert.NotNull(repoint);
    }

    [Theory]
    [InlineData("10.0.0.11:5432:*:replicator:p1", "no line for replicator@10.0.0.12:5432")] // the module's own line, for the old primary only
    [InlineData("10.0.0.11:5432:*:replicator:p1\n10.0.0.12:5432:*:replicator:p2", "with the password it uses now")] // another password
    [InlineData("*:*:*:other:p1", "no line")] // no line for the standby's role at all
    public void A_passfile_that_does_not_serve_the_new_upstream_goes_the_SSH_way(string passFile, string reason)
    {
        var (repoint, whyNot) = Decide(Facts(passFile));
        Assert.Null(repoint);
        Assert.Contains(reason, whyNot);
    }

    [Fact]
    public void Settings_outside_postgresql_auto_conf_or_unreadable_go_the_SSH_way()
    {
        Assert.Contains("/etc/postgresql/15/main/postgresql.conf", Decide(Facts(source: "/etc/postgresql/15/main/postgresql.conf")).WhyNot);
        Assert.Contains("cannot see", Decide(Facts(source: null)).WhyNot);
        Assert.Contains("could not be read over SQL", Decide(null).WhyNot);
        Assert.Contains("could not be read", Decide(Facts() with { RedactedPassFile = null }).WhyNot);
        // A role that reads settings and files (pg_read_all_settings, pg_read_server_files) but may not ALTER SYSTEM them.
        Assert.Contains("may not ALTER SYSTEM", Decide(Facts() with { MayAlterSystem = false }).WhyNot);
    }

    [Fact]
    public void Versions_that_read_primary_conninfo_at_start_only_go_the_SSH_way()
    {
        Assert.Contains("at start only", Decide(Facts(), major: 12).WhyNot);
        Assert.Null(Decide(Facts(), major: 13).WhyNot);
        Assert.Contains("at start only", Decide(Facts(), major: null).WhyNot);
    }

    [Theory]
    [InlineData("host='10.0.0.11' user='replicator' password='secret' application_name='db3'", "holds a password")]
    [InlineData("host='10.0.0.11' user='replicator' application_name='db3'", "names no passfile")]
    [InlineData("host='10.0.0.11,10.0.0.12' user='replicator' passfile='/p'", "no single host")]
    [InlineData("", "no primary_conninfo")]
    public void Conninfos_the_SQL_way_cannot_carry_over_go_the_SSH_way(string conninfo, string reason) =>
        Assert.Contains(reason, Decide(Facts(conninfo: conninfo)).WhyNot);

    [Fact]
    public void A_role_given_for_the_command_goes_the_SSH_way_the_nodes_own_does_not()
    {
        var given = new NetworkCredential("replicator", "pw");
        Assert.Contains("given for this command", Decide(Facts(), request: Request(given)).WhyNot);
        Assert.Null(Decide(Facts(), request: Request(given), credentialIsTheNodes: true).WhyNot);
        Assert.Contains("not other", Decide(Facts(), request: Request(new NetworkCredential("other", "pw")), credentialIsTheNodes: true).WhyNot);
    }

    [Fact]
    public void A_standby_without_a_slot_gets_its_own_and_the_old_value_is_kept_to_put_back()
    {
        var (repoint, _) = Decide(Facts(slot: "", slotSource: null));
        Assert.Equal("db3", repoint!.Changes["primary_slot_name"]);
        Assert.True(repoint.Before.ContainsKey("primary_slot_name"));
        Assert.Null(repoint.Before["primary_slot_name"]); // put back with RESET
        // A slot set elsewhere that stays the same is no reason to go the SSH way: only primary_conninfo is written.
        Assert.Equal(new[] { "primary_conninfo" }, Decide(Facts(slot: "old_slot", slotSource: "/etc/postgresql/15/main/postgresql.conf")).Repoint!.Changes.Keys);
    }

    [Fact]
    public void Tls_and_a_failover_candidates_database_carry_over_into_the_upstreams_admission()
    {
        var (repoint, _) = Decide(Facts(conninfo: Conninfo + " sslmode='verify-full' sslrootcert='/r.crt' dbname='postgres'"));
        Assert.True(repoint!.OverTls);
        Assert.True(repoint.SyncsSlots);
        Assert.Contains("sslmode='verify-full'", repoint.Changes["primary_conninfo"]);
    }
}
