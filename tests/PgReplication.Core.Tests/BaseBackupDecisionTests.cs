using System.Net;
using PgReplication.Core.Hosts;
using PgReplication.Core.Model;
using PgReplication.Core.Operations;

namespace PgReplication.Core.Tests;

/// <summary>Invoke-PgBaseBackup's refusals and method, decided from the facts its plan reads (no host).</summary>
public sealed class BaseBackupDecisionTests
{
    private const ulong SystemId = 7300000000000000001;
    private static readonly PgNode Primary = new("db1") { Role = NodeRole.Primary, ServerVersion = new Version(15, 18), SystemIdentifier = SystemId };

    private static BaseBackupRequest Request(bool force = false, BaseBackupMethod? method = null) => new()
    {
        Standby = new PgNode("db2"), Primary = Primary, Replication = new NetworkCredential("replicator", "secret"), Force = force, Method = method,
    };

    private static BaseBackup.Facts Facts(DataDirectoryKind kind = DataDirectoryKind.Empty, string? systemId = null, string tool = "pg_basebackup (PostgreSQL) 15.18",
        string standbyArch = "x86_64", bool standbyMarker = false) => new()
    {
        BinDirectory = "/usr/lib/postgresql/15/bin", StandbyHost = "db2",
        ToolVersion = new CommandResult { Host = "db2", CommandLine = "pg_basebackup --version", ExitCode = 0, StandardOutput = tool },
        StandbyArchitecture = standbyArch, PrimaryArchitecture = "x86_64",
        Target = new DataDirectoryIdentity { Node = "db2", Path = "/var/lib/postgresql/15/main", Kind = kind, SystemIdentifier = systemId, StandbyMarker = standbyMarker },
        Leftovers = Array.Empty<int>(), Tablespaces = Array.Empty<TablespaceInfo>(), DatabaseBytes = 30L << 20,
    };

    private static BaseBackup.Decision Decide(BaseBackupRequest request, BaseBackup.Facts facts, bool guessedPath = false) =>
        BaseBackup.Decide(request, facts, 15, "/var/lib/postgresql/15/main", guessedPath, overSsh: true);

    [Fact]
    public void An_empty_target_takes_pg_basebackup()
    {
        Assert.Equal(BaseBackupMethod.PgBaseBackup, Decide(Request(), Facts()).Method);
    }

    [Fact]
    public void Another_architecture_is_refused_naming_both()
    {
        var ex = Assert.Throws<RefusedException>(() => Decide(Request(), Facts(standbyArch: "aarch64")));
        Assert.Equal(ErrorReasons.ArchitectureMismatch, ex.Reason);
        Assert.Contains("aarch64", ex.Message);
    }

    [Fact]
    public void A_pg_basebackup_of_another_major_is_refused_unless_another_method_is_asked()
    {
        var ex = Assert.Throws<RefusedException>(() => Decide(Request(method: BaseBackupMethod.PgBaseBackup), Facts(tool: "pg_basebackup (PostgreSQL) 14.2")));
        Assert.Equal(ErrorReasons.VersionMismatch, ex.Reason);
        Assert.Equal(BaseBackupMethod.Parallel, Decide(Request(method: BaseBackupMethod.Parallel), Facts(tool: "pg_basebackup (PostgreSQL) 14.2")).Method);
    }

    [Fact]
    public void A_directory_of_another_cluster_needs_Force_and_a_guessed_path_never_replaces_it()
    {
        var other = Facts(DataDirectoryKind.Stopped, systemId: "7399999999999999999");
        var refused = Assert.Throws<RefusedException>(() => Decide(Request(), other));
        Assert.Equal(ErrorReasons.TargetNotEmpty, refused.Reason);
        Assert.Equal(BaseBackupMethod.PgBaseBackup, Decide(Request(force: true), other).Method);
        var guessed = Assert.Throws<RefusedException>(() => Decide(Request(force: true), other, guessedPath: true));
        Assert.Equal(ErrorReasons.GuessedPathNotOurs, guessed.Reason);
    }

    [Fact]
    public void A_stopped_copy_of_this_primary_is_left_alone_without_Force()
    {
        var copy = Facts(DataDirectoryKind.Stopped, systemId: SystemId.ToString(), standbyMarker: true);
        Assert.Equal(BaseBackupMethod.PgBaseBackup, Decide(Request(), copy, guessedPath: true).Method);
    }
}

/// <summary>Invoke-PgBaseBackup -Method PgBackRest: the restore from the repository, decided from what the hosts' configs and `pgbackrest info` say.</summary>
public sealed class BackRestRestoreDecisionTests
{
    private const ulong SystemId = 7300000000000000001;
    private static readonly PgNode Primary = new("db1") { Role = NodeRole.Primary, ServerVersion = new Version(15, 18), SystemIdentifier = SystemId };
    private const string Home = "/var/lib/postgresql";
    private const string Config = "/var/lib/postgresql/.pgbackrest/pgbackrest.conf";
    private const string Target = "/var/lib/postgresql/15/main";

    private static string HostConfig(string repository = "backup1", string stanza = "main", string data = Target) =>
        PgBackRest.DatabaseHostConfig(stanza, Home, data, 5432, repository, "postgres", 22, "/home/backup/.pgbackrest/pgbackrest.conf", 2);

    private static string InfoJson(ulong systemId = SystemId, bool backup = true) => $$"""
        [{"name":"main","status":{"code":0,"message":"ok"},"db":[{"id":1,"repo-key":1,"system-id":{{systemId}},"version":"15"}],
          "backup":[{{(backup ? """{"label":"20261206-071500F","type":"full","database":{"id":1,"repo-key":1}}""" : "")}}]}]
        """;

    private static BackRestRestoreFacts Facts(string? primaryConfig = null, string? standbyConfig = null, string? info = null, int exit = 0) => new()
    {
        PrimaryConfigPath = Config, PrimaryConfigText = primaryConfig ?? HostConfig(),
        StandbyHome = Home, StandbyConfigPath = Config, StandbyConfigText = standbyConfig ?? HostConfig(),
        Info = new CommandResult { Host = "db3", CommandLine = "pgbackrest info", ExitCode = exit, StandardOutput = info ?? InfoJson() },
    };

    private static BackRestRestorePlan Decide(BackRestRestoreFacts facts, bool inUse = false, int? processMax = null) =>
        BackRestRestore.Decide(new PgNode("db3"), Primary, facts, Target, inUse, processMax);

    [Fact]
    public void The_latest_backup_is_restored_as_a_standby_with_the_archive_get_restore_command()
    {
        var plan = Decide(Facts());
        Assert.Equal("backup1", plan.Repository);
        Assert.Equal("20261206-071500F", plan.BackupLabel);
        Assert.Null(plan.ConfigToWrite);
        Assert.Equal(PgBackRest.ArchiveGetCommand(Config, "main"), plan.RestoreCommand);
        Assert.Equal(new[] { "--config=" + Config, "--stanza=main", "--type=standby", "--process-max=2", "--log-level-console=detail",
            "--recovery-option=restore_command=" + plan.RestoreCommand, "restore" }, plan.Arguments);
    }

    [Fact]
    public void A_target_with_files_is_restored_with_delta_and_Streams_sets_the_processes()
    {
        var plan = Decide(Facts(), inUse: true, processMax: 6);
        Assert.True(plan.Delta);
        Assert.Contains("--delta", plan.Arguments);
        Assert.Contains("--process-max=6", plan.Arguments);
        Assert.Equal("restore", plan.Arguments[^1]);
    }

    [Fact]
    public void Another_target_path_rewrites_the_standbys_pg1_path()
    {
        var plan = Decide(Facts(standbyConfig: HostConfig(data: "/srv/other")));
        Assert.Contains($"pg1-path={Target}\n", plan.ConfigToWrite);
        Assert.Contains("repo1-host=backup1\n", plan.ConfigToWrite);
    }

    [Fact]
    public void No_repository_for_the_primary_is_refused_naming_the_host_and_the_file()
    {
        var ex = Assert.Throws<RefusedException>(() => Decide(Facts(primaryConfig: "")));
        Assert.Equal(ErrorReasons.NoBackRestRepository, ex.Reason);
        Assert.Contains("db1", ex.Message);
        Assert.Contains(Config, ex.Message);
    }

    [Fact]
    public void A_standby_host_not_set_up_or_set_up_for_another_repository_is_refused()
    {
        var missing = Assert.Throws<RefusedException>(() => Decide(Facts(standbyConfig: "")));
        Assert.Equal(ErrorReasons.BackRestStandbyNotSetUp, missing.Reason);
        Assert.Contains("Initialize-PgBackRest -Primary db1 -Standby db3 -RepositoryHost backup1", missing.Message);
        var other = Assert.Throws<RefusedException>(() => Decide(Facts(standbyConfig: HostConfig(repository: "backup9"))));
        Assert.Equal(ErrorReasons.BackRestStandbyNotSetUp, other.Reason);
        Assert.Contains("backup9", other.Message);
    }

    [Fact]
    public void No_backup_or_a_backup_of_another_cluster_is_refused()
    {
        var none = Assert.Throws<RefusedException>(() => Decide(Facts(info: InfoJson(backup: false))));
        Assert.Equal(ErrorReasons.NoBackRestBackup, none.Reason);
        Assert.Contains("backup1", none.Message);
        var other = Assert.Throws<RefusedException>(() => Decide(Facts(info: InfoJson(systemId: 7399999999999999999))));
        Assert.Equal(ErrorReasons.NoBackRestBackup, other.Reason);
        Assert.Contains("7399999999999999999", other.Message);
        Assert.Throws<HostCommandException>(() => Decide(Facts(exit: 255)));
    }

    [Fact]
    public void The_host_config_is_read_back_as_written()
    {
        var parsed = PgBackRest.ParseHostConfig(HostConfig());
        Assert.Equal(new BackRestHostConfig("main", "backup1", "postgres", "/home/backup/.pgbackrest/pgbackrest.conf", 22, 2, Target, 5432), parsed);
        Assert.Null(PgBackRest.ParseHostConfig(""));
        Assert.Null(PgBackRest.ParseHostConfig("[global]\nrepo1-path=/var/lib/pgbackrest\n"));
    }

    [Fact]
    public void Restore_progress_is_read_from_the_console_lines()
    {
        Assert.Equal(12.34, BackRestRestore.ProgressPercent("P01 DETAIL: restore file /d/base/1/1249 (440KB, 12.34%) checksum 0a1b"));
        Assert.Equal(100, BackRestRestore.ProgressPercent("P02 DETAIL: restore file /d/PG_VERSION - exists and matches backup (3B, 100.00%) checksum x"));
        Assert.Null(BackRestRestore.ProgressPercent("INFO: restore backup set 20261206-071500F"));
    }

    [Fact]
    public void A_running_copy_of_this_primary_needs_Force_a_stopped_one_is_restored_over_with_delta()
    {
        var request = new BaseBackupRequest { Standby = new PgNode("db3"), Primary = Primary, Replication = new NetworkCredential("r", "s"), Method = BaseBackupMethod.PgBackRest };
        BaseBackup.Facts Target(DataDirectoryKind kind) => new()
        {
            BinDirectory = "/usr/lib/postgresql/15/bin", StandbyHost = "db3", StandbyArchitecture = "x86_64", PrimaryArchitecture = "x86_64",
            Target = new DataDirectoryIdentity { Node = "db3", Path = BackRestRestoreDecisionTests.Target, Kind = kind, SystemIdentifier = SystemId.ToString(), StandbyMarker = true },
            Leftovers = Array.Empty<int>(), Tablespaces = Array.Empty<TablespaceInfo>(), BackRest = Facts(),
        };
        var stopped = BaseBackup.Decide(request, Target(DataDirectoryKind.Stopped), 15, BackRestRestoreDecisionTests.Target, false, overSsh: true);
        Assert.Equal(BaseBackupMethod.PgBackRest, stopped.Method);
        Assert.True(stopped.BackRest!.Delta);
        var running = Assert.Throws<RefusedException>(() => BaseBackup.Decide(request, Target(DataDirectoryKind.RunningStandby), 15, BackRestRestoreDecisionTests.Target, false, overSsh: true));
        Assert.Equal(ErrorReasons.TargetNotEmpty, running.Reason);
        var force = new BaseBackupRequest { Standby = request.Standby, Primary = Primary, Replication = request.Replication, Method = BaseBackupMethod.PgBackRest, Force = true };
        Assert.NotNull(BaseBackup.Decide(force, Target(DataDirectoryKind.RunningStandby), 15, BackRestRestoreDecisionTests.Target, false, overSsh: true).BackRest);
    }

    private static readonly PatroniMarker Marker = new("pg", 8008, Array.Empty<byte>());

    [Fact]
    public void Without_Patroni_a_missing_slot_is_made_by_SQL_and_an_existing_one_used()
    {
        Assert.Equal(BaseBackupSlotAction.Create, BaseBackup.DecideSlot("db2", false, null, "db1").Action);
        Assert.Equal(BaseBackupSlotAction.UseExisting, BaseBackup.DecideSlot("db2", true, null, "db1").Action);
        Assert.Equal(BaseBackupSlotAction.None, BaseBackup.DecideSlot(null, false, null, "db1").Action);
    }

    [Fact]
    public void On_a_cluster_Patroni_manages_the_slot_is_one_Patroni_keeps_before_the_copy()
    {
        // Made by SQL, Patroni would drop it, idle, at its next reload of the slot list: it is declared permanent and made by Patroni.
        var missing = BaseBackup.DecideSlot("db2", false, new PatroniSlotFacts(Marker, true, Array.Empty<string>(), 2), "db1");
        Assert.Equal(BaseBackupSlotAction.KeepWithPatroni, missing.Action);
        Assert.Contains("permanent slot", missing.Step!);
        Assert.Contains("db1", missing.Step!);
        // A slot an earlier run made by SQL, unknown to Patroni: declared too (Patroni keeps the one there).
        Assert.Equal(BaseBackupSlotAction.KeepWithPatroni, BaseBackup.DecideSlot("db2", true, new PatroniSlotFacts(Marker, true, Array.Empty<string>(), 2), "db1").Action);
        // Declared and there: nothing to do; declared but not made yet: wait for Patroni again.
        Assert.Equal(BaseBackupSlotAction.UseExisting, BaseBackup.DecideSlot("db2", true, new PatroniSlotFacts(Marker, true, new[] { "db2" }, 2), "db1").Action);
        Assert.Equal(BaseBackupSlotAction.KeepWithPatroni, BaseBackup.DecideSlot("db2", false, new PatroniSlotFacts(Marker, true, new[] { "db2" }, 2), "db1").Action);
        Assert.Equal(BaseBackupSlotAction.None, BaseBackup.DecideSlot(null, false, new PatroniSlotFacts(Marker, true, Array.Empty<string>(), 2), "db1").Action);
    }

    [Fact]
    public void With_Patronis_use_slots_off_a_slot_is_refused_naming_NoSlot()
    {
        var ex = Assert.Throws<RefusedException>(() => BaseBackup.DecideSlot("db2", false, new PatroniSlotFacts(Marker, false, Array.Empty<string>(), 10), "db1"));
        Assert.Equal(ErrorReasons.PatroniSlotsOff, ex.Reason);
        Assert.Contains("db1", ex.Message);
        Assert.Contains("db2", ex.Message);
        Assert.Contains("-NoSlot", ex.Message);
    }

    [Fact]
    public void Patronis_slot_facts_come_from_its_dynamic_configuration_with_its_defaults()
    {
        var facts = PatroniSlotFacts.Of(Marker, (System.Text.Json.Nodes.JsonObject)System.Text.Json.Nodes.JsonNode.Parse(
            """{"loop_wait": 2, "postgresql": {"use_slots": true, "parameters": {}}, "slots": {"db4": {"type": "physical"}}}""")!);
        Assert.True(facts.UseSlots);
        Assert.Equal(new[] { "db4" }, facts.PermanentSlots);
        Assert.Equal(2, facts.LoopWaitSeconds);
        var defaults = PatroniSlotFacts.Of(Marker, new System.Text.Json.Nodes.JsonObject());
        Assert.True(defaults.UseSlots);
        Assert.Empty(defaults.PermanentSlots);
        Assert.Equal(10, defaults.LoopWaitSeconds);
        Assert.False(PatroniSlotFacts.Of(Marker, (System.Text.Json.Nodes.JsonObject)System.Text.Json.Nodes.JsonNode.Parse("""{"postgresql": {"use_slots": false}}""")!).UseSlots);
    }
}
