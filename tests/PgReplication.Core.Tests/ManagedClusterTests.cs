using System.Net;
using System.Text.Json.Nodes;
using PgReplication.Core.Model;
using PgReplication.Core.Operations;

namespace PgReplication.Core.Tests;

/// <summary>The manual cmdlets on a cluster Patroni manages: what they ask Patroni for, decided with no host.</summary>
public class ManagedClusterTests
{
    private static readonly PgNode Db1 = new("db1");

    private static PrimaryConfigChange Setting(string name, string? old, string value, bool restart = false) =>
        new(PrimaryChangeKind.Setting, name, old, value, restart);

    [Fact]
    public void Settings_go_into_one_patch_of_the_dynamic_configuration_and_say_which_need_a_restart()
    {
        var plan = ManagedSettings.Decide(Db1, new[]
        {
            Setting("wal_keep_size", "128MB", "512MB"), Setting("max_wal_senders", "10", "20", restart: true), Setting("archive_command", "", "cp %p /a/%f"),
        });
        var parameters = plan.Patch["postgresql"]!["parameters"]!;
        Assert.Equal("512MB", (string)parameters["wal_keep_size"]!);
        Assert.Equal("20", (string)parameters["max_wal_senders"]!);
        Assert.Equal("cp %p /a/%f", (string)parameters["archive_command"]!);
        Assert.Null(plan.SynchronousCount);
        Assert.Contains(plan.Steps, s => s.Contains("max_wal_senders") && s.Contains("needs a restart"));
        // Patroni writes wal_keep_size in its file only (not on the server's command line): a reload applies it.
        Assert.DoesNotContain(plan.Steps, s => s.Contains("wal_keep_size") && s.Contains("restart"));
        Assert.DoesNotContain(plan.Steps, s => s.Contains("archive_command") && s.Contains("restart"));
        Assert.Equal(new[] { "wal_keep_size", "max_wal_senders", "archive_command" }, plan.Shadowable);
    }

    private static RunningSetting Running(string name, string? setting, string? file, string source = "command line", string? unit = null, string type = "integer", bool pending = false) =>
        new(name, setting, unit, type, source, pending, file);

    [Fact]
    public void A_rerun_restarts_what_still_runs_the_old_value_from_patronis_command_line()
    {
        // An earlier run wrote max_connections 150 through Patroni without -Restart, and Patroni's own flag is gone (it was
        // restarted): the server still runs 100 from its command line, pending_restart stays false (the command line
        // wins over the file), and the rerun's plan changes no setting.
        var stale = ManagedSettings.WaitingForRestart(new[] { Running("max_connections", "100", "150") });
        Assert.Equal(new[] { "max_connections" }, stale);
        // After the restart it runs Patroni's value, written in another unit or case: nothing waits.
        Assert.Empty(ManagedSettings.WaitingForRestart(new[]
        {
            Running("max_locks_per_transaction", "128", "128"), Running("max_connections", "100", "100"),
            Running("track_commit_timestamp", "off", "false", type: "bool"), Running("wal_level", "replica", "hot_standby", type: "enum"),
        }));
        Assert.Equal(new[] { "max_wal_senders", "track_commit_timestamp" }, ManagedSettings.WaitingForRestart(new[]
        {
            Running("max_wal_senders", "10", "20"), Running("track_commit_timestamp", "off", "on", type: "bool"),
        }));
        // A value from the configuration file reaches the server at a reload, and so does wal_keep_size (Patroni writes it
        // in its file only); one Patroni does not put on the command line is not compared; pending_restart always counts.
        Assert.Empty(ManagedSettings.WaitingForRestart(new[] { Running("max_connections", "100", "150", source: "configuration file") }));
        Assert.Empty(ManagedSettings.WaitingForRestart(new[] { Running("wal_keep_size", "1536", "2048MB", unit: "MB") }));
        Assert.True(ManagedSettings.RunsWithFileValue(Running("shared_buffers", "16384", "128MB", unit: "8kB")));
        Assert.Empty(ManagedSettings.WaitingForRestart(new[] { Running("listen_addresses", "10.0.0.1", "10.0.0.1,127.0.0.1", type: "string") }));
        Assert.Equal(new[] { "archive_mode" }, ManagedSettings.WaitingForRestart(new[]
        {
            Running("archive_mode", "off", "on", source: "configuration file", type: "enum", pending: true),
        }));
    }

    [Fact]
    public void Members_to_restart_are_those_flagged_or_waiting_the_standbys_first_and_the_leader_last()
    {
        PatroniMember Member(string name, string role, bool flagged = false) => new(name, role, "running", name, 5432, 1, 0, flagged);
        var order = ManagedSettings.MembersToRestart(new[]
        {
            new MemberRestartFacts(Member("db1", "leader"), new[] { "max_connections" }),
            new MemberRestartFacts(Member("db2", "replica"), Array.Empty<string>()),
            new MemberRestartFacts(Member("db3", "replica"), new[] { "max_connections" }),
            new MemberRestartFacts(Member("db4", "sync_standby", flagged: true), Array.Empty<string>()),
        });
        Assert.Equal(new[] { "db3", "db4", "db1" }, order.Select(m => m.Name));
        Assert.Empty(ManagedSettings.MembersToRestart(new[] { new MemberRestartFacts(Member("db1", "leader"), Array.Empty<string>()) }));
    }

    [Fact]
    public void Synchronous_standbys_become_patronis_synchronous_mode_not_a_setting()
    {
        var plan = ManagedSettings.Decide(Db1, new[] { Setting("synchronous_standby_names", "", "ANY 2 (\"db2\", \"db3\")") });
        Assert.True((bool)plan.Patch["synchronous_mode"]!);
        Assert.Equal(2, (int)plan.Patch["synchronous_node_count"]!);
        Assert.Null(plan.Patch["postgresql"]);
        Assert.Equal(2, plan.SynchronousCount);
        Assert.Contains("synchronous_standby_names", plan.Shadowable);
    }

    [Fact]
    public void What_patroni_owns_per_member_or_forces_is_refused_and_what_it_forces_already_is_no_change()
    {
        var listen = Assert.Throws<RefusedException>(() => ManagedSettings.Decide(Db1, new[] { Setting("listen_addresses", "10.0.0.1", "10.0.0.1,10.0.0.9") }));
        Assert.Equal("PatroniOwnsSetting", listen.Reason);
        Assert.Contains("db1", listen.Message);
        Assert.Contains("10.0.0.9", listen.Message);
        Assert.Equal("PatroniOwnsSetting", Assert.Throws<RefusedException>(() => ManagedSettings.Decide(Db1, new[] { Setting("hot_standby", "on", "off") })).Reason);
        var forced = ManagedSettings.Decide(Db1, new[] { Setting("wal_log_hints", "off", "on") });
        Assert.Empty(forced.Patch);
        Assert.Contains(forced.Steps, s => s.Contains("Patroni keeps it"));
    }

    [Fact]
    public void A_delayed_standby_is_tagged_nofailover_at_the_hand_over_and_when_the_delay_changes()
    {
        var facts = new HaFacts
        {
            Members = Array.Empty<HaMember>(), Settings = new HaSettings { Scope = "pg1", FailsafeMode = true },
            Superuser = new NetworkCredential("postgres", "s"), Replication = new NetworkCredential("r", "p"), RestApi = new NetworkCredential("a", "b"),
        };
        var member = new HaMember
        {
            Name = "db3", Address = "10.0.0.3", Port = 5432, IsPrimary = false, DataDirectory = "/d", ConfigDirectory = "/c", ConfigFile = "/c/postgresql.conf",
            HbaFile = "/c/pg_hba.conf", BinDirectory = "/b", HaDirectory = "/h", ListenAddresses = "*", ApplyDelay = TimeSpan.FromMinutes(30),
        };
        var text = AutoFailoverConfig.PatroniConfig(facts, member);
        var json = JsonNode.Parse(text)!;
        Assert.True((bool)json["tags"]!["nofailover"]!);
        Assert.Equal("1800000ms", (string)json["postgresql"]!["recovery_conf"]!["recovery_min_apply_delay"]!);
        Assert.True((bool)json["bootstrap"]!["dcs"]!["failsafe_mode"]!);
        Assert.Equal((TimeSpan.FromMinutes(30), true), AutoFailoverConfig.ApplyDelayOf(text));

        // The delay removed: no recovery_conf left, the tag off; everything else as it was.
        var back = AutoFailoverConfig.WithApplyDelay(text, TimeSpan.Zero);
        Assert.Equal((TimeSpan.Zero, false), AutoFailoverConfig.ApplyDelayOf(back));
        Assert.Null(JsonNode.Parse(back)!["postgresql"]!["recovery_conf"]);
        Assert.Equal((string)json["postgresql"]!["data_dir"]!, (string)JsonNode.Parse(back)!["postgresql"]!["data_dir"]!);
        Assert.Equal((TimeSpan.FromSeconds(5), true), AutoFailoverConfig.ApplyDelayOf(AutoFailoverConfig.WithApplyDelay(back, TimeSpan.FromSeconds(5))));
        // An ordinary standby's configuration: tagged for failover, no delay.
        var plain = AutoFailoverConfig.PatroniConfig(facts, new HaMember
        {
            Name = "db2", Address = "10.0.0.2", Port = 5432, IsPrimary = false, DataDirectory = "/d", ConfigDirectory = "/c", ConfigFile = "/c/postgresql.conf",
            HbaFile = "/c/pg_hba.conf", BinDirectory = "/b", HaDirectory = "/h", ListenAddresses = "*",
        });
        Assert.Equal((TimeSpan.Zero, false), AutoFailoverConfig.ApplyDelayOf(plain));
    }

    [Fact]
    public void Restore_of_a_member_that_streams_from_the_leader_does_nothing_unless_reclone_and_the_leader_is_refused()
    {
        var leader = new PatroniMember("db1", "leader", "running", "10.0.0.1", 5432, 2, null, false);
        var replica = new PatroniMember("db2", "replica", "streaming", "10.0.0.2", 5432, 2, 0, false);
        Assert.False(PatroniControl.DecideReinitialize(new PgNode("db2"), replica, leader, "10.0.0.1", reclone: false).Reinitialize);
        Assert.True(PatroniControl.DecideReinitialize(new PgNode("db2"), replica, leader, "10.0.0.1", reclone: true).Reinitialize);
        var broken = replica with { State = "start failed" };
        var decision = PatroniControl.DecideReinitialize(new PgNode("db2"), broken, leader, null, reclone: false);
        Assert.True(decision.Reinitialize);
        Assert.Contains(decision.Steps, s => s.Contains("POST /reinitialize") && s.Contains("start failed"));
        var ex = Assert.Throws<RefusedException>(() => PatroniControl.DecideReinitialize(new PgNode("db1"), leader, leader, null, reclone: true));
        Assert.Equal("PatroniLeader", ex.Reason);
    }

    [Fact]
    public void The_health_check_shows_patronis_view_of_each_standby()
    {
        var db2 = new PgNode("10.0.0.2");
        var cluster = new PatroniClusterState("pg1", new[]
        {
            new PatroniMember("db1", "leader", "running", "10.0.0.1", 5432, 2, null, false),
            new PatroniMember("db2", "replica", "streaming", "10.0.0.2", 5432, 2, 0, true) { NoFailover = true },
        }, false);
        var result = new ReplicationHealth { Standby = "db2", StandbyNode = db2 };
        PatroniControl.Annotate(new[] { result }, cluster);
        Assert.Equal("patroni", result.Manager);
        Assert.Equal("db1", result.Leader);
        Assert.Equal("replica", result.MemberRole);
        Assert.Equal("streaming", result.MemberState);
        Assert.True(result.PendingRestart);
        Assert.True(result.NoFailover);
    }

    [Fact]
    public void The_systemd_units_run_as_the_database_user_restart_always_and_patroni_leaves_postgres_alone_on_stop()
    {
        var m = new HaMember
        {
            Name = "db1", Address = "10.0.0.1", Port = 5432, IsPrimary = true, DataDirectory = "/d", ConfigDirectory = "/c", ConfigFile = "/c/postgresql.conf",
            HbaFile = "/c/pg_hba.conf", BinDirectory = "/b", HaDirectory = "/var/lib/postgresql/autofailover", ListenAddresses = "*",
        };
        var patroni = AutoFailoverConfig.SystemdUnit(m, "patroni", "postgres", "pg1");
        Assert.Contains("User=postgres\n", patroni);
        Assert.Contains("ExecStart=/usr/bin/patroni /var/lib/postgresql/autofailover/patroni.yml\n", patroni);
        Assert.Contains("After=network-online.target pgreplication-etcd-pg1.service\n", patroni);
        Assert.Contains("KillMode=process\n", patroni);
        Assert.Contains("Restart=always\n", patroni);
        Assert.Contains("WantedBy=multi-user.target\n", patroni);
        var etcd = AutoFailoverConfig.SystemdUnit(m, "etcd", "postgres", "pg1");
        Assert.Contains("ExecStart=/usr/bin/etcd --config-file /var/lib/postgresql/autofailover/etcd.yml\n", etcd);
        Assert.DoesNotContain("KillMode", etcd);
        Assert.Equal("pgreplication-patroni-pg1.service", AutoFailoverConfig.SystemdUnitName("pg1", "patroni"));
        Assert.Throws<ArgumentException>(() => AutoFailoverConfig.SystemdUnit(m, "postgres", "postgres", "pg1"));
    }
}

/// <summary>A standby that joins a managed cluster later gets the configuration the hand-over would have written for it.</summary>
public class PatroniJoinConfigTests
{
    private static HaMember Member(string name, int last, bool dcs, TimeSpan delay = default) => new()
    {
        Name = name, Address = "10.0.0." + last, Port = 5432, IsPrimary = last == 1, DataDirectory = "/var/lib/postgresql/15/main",
        ConfigDirectory = "/etc/postgresql/15/main", ConfigFile = "/etc/postgresql/15/main/postgresql.conf", HbaFile = "/etc/postgresql/15/main/pg_hba.conf",
        BinDirectory = "/usr/lib/postgresql/15/bin", HaDirectory = "/var/lib/postgresql/autofailover", ListenAddresses = $"10.0.0.{last},127.0.0.1",
        SocketDirectories = "/var/run/postgresql", ClusterName = "15/main", IdentFile = "/etc/postgresql/15/main/pg_ident.conf", IsDcsMember = dcs, ApplyDelay = delay,
    };

    [Fact]
    public void The_new_members_configuration_is_the_primarys_with_its_own_addresses_and_directories()
    {
        var members = new[] { Member("db1", 1, true), Member("db2", 2, true), Member("db3", 3, true) };
        var facts = new HaFacts
        {
            Members = members, Settings = new HaSettings { Scope = "pg1", TtlSeconds = 10, LoopWaitSeconds = 2, RetryTimeoutSeconds = 3, SynchronousMode = true },
            Superuser = new NetworkCredential("postgres", "su"), Replication = new NetworkCredential("replicator", "rp"), RestApi = new NetworkCredential("patroni", "api"),
            Parameters = new Dictionary<string, string> { ["max_connections"] = "150" }, PermanentSlots = new[] { "archiver" },
        };
        var leader = AutoFailoverConfig.PatroniConfig(facts, members[0]);
        foreach (var newcomer in new[] { Member("db4", 4, false), Member("db5", 5, false, TimeSpan.FromMinutes(10)) })
        {
            var joined = AutoFailoverConfig.ForNewMember(leader, newcomer);
            Assert.True(JsonNode.DeepEquals(JsonNode.Parse(AutoFailoverConfig.PatroniConfig(facts, newcomer)), JsonNode.Parse(joined)), joined);
        }
        Assert.Equal(8008, AutoFailoverConfig.RestApiPortOf(leader));
        Assert.Equal("api", AutoFailover.RestApiCredentialOf(leader)!.Password);
    }
}
