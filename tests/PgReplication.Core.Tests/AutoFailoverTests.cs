using System.Net;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json.Nodes;
using PgReplication.Core.Model;
using PgReplication.Core.Operations;

namespace PgReplication.Core.Tests;

/// <summary>The hand-over to Patroni: the decision from facts, the files' text, the certificates and the marker, with no host.</summary>
public class AutoFailoverTests
{
    private const ulong ClusterId = 7_300_000_000_000_000_001;

    private static HaNodeFacts Facts(string host, bool primary, ulong id = ClusterId, string[]? missing = null, string[]? slots = null) => new()
    {
        Node = new PgNode(host) { AdminCredential = new NetworkCredential("postgres", "su-secret") },
        SystemIdentifier = id, MissingPrograms = missing ?? Array.Empty<string>(),
        ReplicationInUse = primary ? null : new NetworkCredential("replicator", "r'e\"p:secret"),
        Slots = slots ?? Array.Empty<string>(),
        CommandLineSettings = primary ? new Dictionary<string, string> { ["max_connections"] = "150", ["wal_level"] = "replica" } : new Dictionary<string, string>(),
        Member = new HaMember
        {
            Name = SlotNames.FromNodeName(host), Address = "10.0.0." + host[^1], Port = 5432, IsPrimary = primary,
            DataDirectory = "/var/lib/postgresql/15/main", ConfigDirectory = "/etc/postgresql/15/main", ConfigFile = "/etc/postgresql/15/main/postgresql.conf",
            HbaFile = "/etc/postgresql/15/main/pg_hba.conf", BinDirectory = "/usr/lib/postgresql/15/bin", HaDirectory = "/var/lib/postgresql/autofailover",
            ListenAddresses = "10.0.0." + host[^1] + ",127.0.0.1", IsDcsMember = true,
        },
    };

    private static AutoFailoverRequest Request(params HaNodeFacts[] nodes) => new()
    {
        Nodes = nodes.Select(n => n.Node).ToList(), RestApi = new NetworkCredential("patroni", "api-secret"), TtlSeconds = 10, LoopWaitSeconds = 2, RetryTimeoutSeconds = 3,
    };

    [Fact]
    public void A_node_without_the_programs_stops_the_hand_over_naming_the_packages()
    {
        var nodes = new[] { Facts("db1", true), Facts("db2", false, missing: new[] { "patroni" }) };
        var ex = Assert.Throws<AutoFailoverRefusedException>(() => AutoFailover.Decide(Request(nodes), nodes));
        Assert.Equal("PackageMissing", ex.Reason);
        Assert.Contains("db2", ex.Message);
        Assert.Contains("apt-get install patroni etcd-server etcd-client", ex.Message);
    }

    [Fact]
    public void Two_primaries_or_another_clusters_copy_are_refused()
    {
        var two = new[] { Facts("db1", true), Facts("db2", true) };
        Assert.Equal("TwoPrimaries", Assert.Throws<AutoFailoverRefusedException>(() => AutoFailover.Decide(Request(two), two)).Reason);
        var other = new[] { Facts("db1", true), Facts("db2", false, id: 42) };
        Assert.Equal("OtherCluster", Assert.Throws<AutoFailoverRefusedException>(() => AutoFailover.Decide(Request(other), other)).Reason);
        var none = new[] { Facts("db2", false) };
        Assert.Equal("NoPrimary", Assert.Throws<AutoFailoverRefusedException>(() => AutoFailover.Decide(Request(none), none)).Reason);
    }

    [Fact]
    public void A_primary_with_synchronous_standbys_is_handed_over_in_synchronous_mode_and_Patroni_takes_the_setting_over()
    {
        var primary = Facts("db1", true);
        var nodes = new[] { new HaNodeFacts
        {
            Node = primary.Node, Member = primary.Member, SystemIdentifier = primary.SystemIdentifier, CommandLineSettings = primary.CommandLineSettings,
            SynchronousStandbyNames = "FIRST 2 (\"db2\", \"db3\")",
        }, Facts("db2", false), Facts("db3", false) };
        var plan = AutoFailover.Decide(Request(nodes), nodes);
        Assert.True(plan.Facts.Settings.SynchronousMode);
        Assert.True(plan.HandsOverSynchronousNames);
        Assert.Contains(plan.Steps, s => s.Contains("ALTER SYSTEM RESET synchronous_standby_names"));
        var dcs = JsonNode.Parse(AutoFailoverConfig.PatroniConfig(plan.Facts, plan.Primary.Member))!["bootstrap"]!["dcs"]!;
        Assert.True((bool)dcs["synchronous_mode"]!);
        Assert.Equal(2, (int)dcs["synchronous_node_count"]!);

        // Without the setting, asynchronous unless asked, and nothing to hand over.
        var plain = new[] { Facts("db1", true), Facts("db2", false) };
        var asynchronous = AutoFailover.Decide(Request(plain), plain);
        Assert.False(asynchronous.Facts.Settings.SynchronousMode);
        Assert.False(asynchronous.HandsOverSynchronousNames);
        var asked = new AutoFailoverRequest { Nodes = plain.Select(n => n.Node).ToList(), RestApi = new NetworkCredential("p", "q"), TtlSeconds = 10, LoopWaitSeconds = 2, RetryTimeoutSeconds = 3, SynchronousMode = true };
        var synchronous = AutoFailover.Decide(asked, plain);
        Assert.True(synchronous.Facts.Settings.SynchronousMode);
        Assert.Equal(1, synchronous.Facts.Settings.SynchronousNodeCount);
        Assert.False(synchronous.HandsOverSynchronousNames);
    }

    [Fact]
    public void A_crashed_primary_is_failed_over_at_once_in_synchronous_mode_and_restarted_in_place_when_asynchronous_unless_asked()
    {
        var plain = new[] { Facts("db1", true), Facts("db2", false) };
        int Written(AutoFailoverPlan plan) =>
            (int)JsonNode.Parse(AutoFailoverConfig.PatroniConfig(plan.Facts, plan.Primary.Member))!["bootstrap"]!["dcs"]!["primary_start_timeout"]!;
        AutoFailoverRequest Asked(bool synchronous, int? timeout) => new()
        {
            Nodes = plain.Select(n => n.Node).ToList(), RestApi = new NetworkCredential("p", "q"), TtlSeconds = 10, LoopWaitSeconds = 2, RetryTimeoutSeconds = 3,
            SynchronousMode = synchronous, PrimaryStartTimeoutSeconds = timeout,
        };
        var asynchronous = AutoFailover.Decide(Asked(false, null), plain);
        Assert.Equal(300, Written(asynchronous));
        Assert.Contains(asynchronous.Steps, s => s.StartsWith("primary_start_timeout 300 s: ", StringComparison.Ordinal));
        var synchronous = AutoFailover.Decide(Asked(true, null), plain);
        Assert.Equal(0, Written(synchronous));
        Assert.Contains(synchronous.Steps, s => s.StartsWith("primary_start_timeout 0: ", StringComparison.Ordinal) && s.Contains("synchronous mode"));
        // An explicit value wins in either mode.
        Assert.Equal(0, Written(AutoFailover.Decide(Asked(false, 0), plain)));
        Assert.Equal(60, Written(AutoFailover.Decide(Asked(true, 60), plain)));
    }

    [Fact]
    public void A_rest_api_password_outside_ascii_is_refused_since_patronis_own_calls_would_fail()
    {
        var nodes = new[] { Facts("db1", true), Facts("db2", false) };
        var request = new AutoFailoverRequest { Nodes = nodes.Select(n => n.Node).ToList(), RestApi = new NetworkCredential("patroni", "gr\u00fcn-secret"), TtlSeconds = 10, LoopWaitSeconds = 2, RetryTimeoutSeconds = 3 };
        Assert.Equal("RestApiPasswordNotAscii", Assert.Throws<AutoFailoverRefusedException>(() => AutoFailover.Decide(request, nodes)).Reason);
        var ascii = new AutoFailoverRequest { Nodes = request.Nodes, RestApi = new NetworkCredential("patroni", "R'e\"p:$(id)`;-x"), TtlSeconds = 10, LoopWaitSeconds = 2, RetryTimeoutSeconds = 3 };
        Assert.NotNull(AutoFailover.Decide(ascii, nodes));
    }

    [Fact]
    public void Timings_that_do_not_fit_in_the_ttl_are_refused()
    {
        var nodes = new[] { Facts("db1", true), Facts("db2", false) };
        var request = new AutoFailoverRequest { Nodes = nodes.Select(n => n.Node).ToList(), RestApi = new NetworkCredential("p", "q"), TtlSeconds = 10, LoopWaitSeconds = 5, RetryTimeoutSeconds = 5 };
        Assert.Equal("BadTiming", Assert.Throws<AutoFailoverRefusedException>(() => AutoFailover.Decide(request, nodes)).Reason);
    }

    [Fact]
    public void Slots_of_no_member_become_permanent_slots_and_the_plan_names_every_file()
    {
        var nodes = new[] { Facts("db1", true, slots: new[] { "db2", "backup_tool" }), Facts("db2", false) };
        var plan = AutoFailover.Decide(Request(nodes), nodes);
        Assert.Equal(new[] { "backup_tool" }, plan.Facts.PermanentSlots);
        Assert.Equal("replicator", plan.Facts.Replication.UserName);
        Assert.Contains(plan.Steps, s => s.Contains("/var/lib/postgresql/autofailover/patroni.yml"));
        Assert.Contains(plan.Steps, s => s.Contains("start etcd member db2"));
        Assert.Contains(plan.Steps, s => s.Contains("remove /var/lib/postgresql/15/main/patroni.dynamic.json"));
        var patroni = JsonNode.Parse(AutoFailoverConfig.PatroniConfig(plan.Facts, plan.Primary.Member))!;
        Assert.NotNull(patroni["bootstrap"]!["dcs"]!["slots"]!["backup_tool"]);
        Assert.Equal("150", (string?)patroni["bootstrap"]!["dcs"]!["postgresql"]!["parameters"]!["max_connections"]);
        Assert.Equal("r'e\"p:secret", (string?)patroni["postgresql"]!["authentication"]!["replication"]!["password"]);
        Assert.Equal("https", (string?)patroni["etcd3"]!["protocol"]);
        Assert.Equal(10, (int)patroni["bootstrap"]!["dcs"]!["ttl"]!);
    }

    [Fact]
    public void Etcd_listens_on_the_hosts_own_address_with_client_certificates()
    {
        var nodes = new[] { Facts("db1", true), Facts("db2", false), Facts("db3", false) };
        var plan = AutoFailover.Decide(Request(nodes), nodes);
        var etcd = JsonNode.Parse(AutoFailoverConfig.EtcdConfig(plan.Facts, nodes[1].Member))!;
        Assert.Equal("https://10.0.0.2:2379", (string?)etcd["listen-client-urls"]);
        Assert.Equal("db1=https://10.0.0.1:2380,db2=https://10.0.0.2:2380,db3=https://10.0.0.3:2380", (string?)etcd["initial-cluster"]);
        Assert.True((bool)etcd["client-transport-security"]!["client-cert-auth"]!);
        Assert.True((bool)etcd["peer-transport-security"]!["client-cert-auth"]!);
        Assert.True((bool)etcd["enable-grpc-gateway"]!);
    }

    [Fact]
    public void A_member_certificate_names_its_address_and_chains_to_the_cluster_ca_only()
    {
        var ca = HaCertificates.NewAuthority("pgtest");
        var member = HaCertificates.NewMember(ca, "db1", new[] { "10.0.0.1", "db1.example.net" });
        using var cert = X509Certificate2.CreateFromPem(member.Certificate);
        Assert.True(HaCertificates.IsSignedBy(cert, ca.CertificateDer()));
        Assert.False(HaCertificates.IsSignedBy(cert, HaCertificates.NewAuthority("other").CertificateDer()));
        var san = cert.Extensions.OfType<X509SubjectAlternativeNameExtension>().Single();
        Assert.Contains(IPAddress.Parse("10.0.0.1"), san.EnumerateIPAddresses());
        Assert.Contains("db1.example.net", san.EnumerateDnsNames());
    }

    [Fact]
    public void The_marker_round_trips_and_foreign_values_are_not_ours()
    {
        var ca = HaCertificates.NewAuthority("pgtest");
        var value = AutoFailoverConfig.MarkerValue(new HaSettings { Scope = "pg42", RestApiPort = 8009 }, ca.CertificateDer());
        var marker = AutoFailoverConfig.ParseMarker(value)!;
        Assert.Equal("pg42", marker.Scope);
        Assert.Equal(8009, marker.ApiPort);
        Assert.Equal(ca.CertificateDer(), marker.CaCertificate);
        Assert.Null(AutoFailoverConfig.ParseMarker(""));
        Assert.Null(AutoFailoverConfig.ParseMarker("scope=x api_port=99999 ca=AA=="));
        Assert.Null(AutoFailoverConfig.ParseMarker("something else"));
    }

    [Fact]
    public void The_topology_shows_patroni_as_manager_with_each_members_role()
    {
        var marker = new PatroniMarker("pg1", 8008, Array.Empty<byte>());
        var readings = new List<NodeReading>
        {
            new() { Node = new PgNode("10.0.0.1"), Role = NodeRole.Primary, SystemIdentifier = ClusterId, Timeline = 1, Lsn = "0/3000060", Patroni = marker },
            new() { Node = new PgNode("10.0.0.2"), Role = NodeRole.Standby, SystemIdentifier = ClusterId, Timeline = 1, Lsn = "0/3000060", ReceiverStatus = "streaming", UpstreamHost = "10.0.0.1", Patroni = marker },
        };
        var state = new PatroniClusterState("pg1", new[]
        {
            new PatroniMember("10_0_0_1", "leader", "running", "10.0.0.1", 5432, 1, null, false),
            new PatroniMember("10_0_0_2", "replica", "streaming", "10.0.0.2", 5432, 1, 0, true),
        }, false);
        var rows = Topology.Build(readings, state);
        Assert.All(rows, r => Assert.Equal("patroni", r.Manager));
        Assert.All(rows, r => Assert.Equal("10_0_0_1", r.Leader));
        Assert.Equal("replica", rows.Single(r => r.ComputerName == "10.0.0.2").MemberRole);
        Assert.True(rows.Single(r => r.ComputerName == "10.0.0.2").PendingRestart);
        Assert.All(Topology.Build(readings.Select(r => new NodeReading { Node = r.Node, Role = r.Role, SystemIdentifier = r.SystemIdentifier, Lsn = r.Lsn, UpstreamHost = r.UpstreamHost, ReceiverStatus = r.ReceiverStatus }).ToList()),
            r => Assert.Null(r.Manager));
    }
}
