using PgReplication.Core.Model;
using PgReplication.Core.Operations;

namespace PgReplication.Core.Tests;

/// <summary>Issue 22, point 2: what Initialize-PgBackRest writes and runs, decided without a host.</summary>
public sealed class PgBackRestTests
{
    private static PgNode Node(string host, string data) => new(host) { DataDirectory = data };

    [Fact]
    public void A_database_host_names_the_repository_host_and_its_own_cluster_as_pg1()
    {
        var text = PgBackRest.DatabaseHostConfig("main", "/var/lib/postgresql", Node("db1", "/var/lib/postgresql/15/main"), "backup1", "postgres", 22,
            "/home/pg/.pgbackrest/pgbackrest.conf", 4);
        Assert.Contains("repo1-host=backup1\n", text);
        Assert.Contains("repo1-host-config=/home/pg/.pgbackrest/pgbackrest.conf\n", text);
        Assert.DoesNotContain("repo1-host-port", text);
        Assert.Contains("process-max=4\n", text);
        Assert.Contains("lock-path=/var/lib/postgresql/.pgbackrest/lock\n", text);
        Assert.Contains("[main]\npg1-path=/var/lib/postgresql/15/main\npg1-port=5432\n", text);
        Assert.DoesNotContain("repo1-path", text);
    }

    [Fact]
    public void The_repository_host_lists_every_database_host_the_primary_first()
    {
        var text = PgBackRest.RepositoryConfig("main", "/var/lib/postgresql", "/var/lib/pgbackrest",
            new[] { (Node("db1", "/d1"), "/c1"), (Node("db2", "/d2"), "/c2") }, 2);
        Assert.Contains("repo1-path=/var/lib/pgbackrest\n", text);
        Assert.Contains("pg1-host=db1\npg1-host-user=postgres\npg1-host-config=/c1\npg1-path=/d1\n", text);
        Assert.Contains("pg2-host=db2\n", text);
        Assert.True(text.IndexOf("pg1-host=db1", StringComparison.Ordinal) < text.IndexOf("pg2-host=db2", StringComparison.Ordinal));
    }

    [Fact]
    public void The_archive_commands_name_the_config_and_double_a_percent_in_it()
    {
        Assert.Equal("pgbackrest --config=/var/lib/postgresql/.pgbackrest/pgbackrest.conf --stanza=main archive-push %p",
            PgBackRest.ArchivePushCommand("/var/lib/postgresql/.pgbackrest/pgbackrest.conf", "main"));
        Assert.Equal("pgbackrest --config=/h/.pgbackrest/pgbackrest.conf --stanza=s1 archive-get %f \"%p\"",
            PgBackRest.ArchiveGetCommand("/h/.pgbackrest/pgbackrest.conf", "s1"));
        Assert.Contains("--config=/h/100%%/x.conf ", PgBackRest.ArchivePushCommand("/h/100%/x.conf", "main"));
    }

    [Theory]
    [InlineData("bad stanza", "/var/lib/pgbackrest", "backup1")]
    [InlineData("main", "relative/path", "backup1")]
    [InlineData("main", "/var/lib/../etc", "backup1")]
    [InlineData("main", "/var/lib/pgbackrest", "DB1")]   // the primary's own host
    public void Bad_input_is_refused_before_anything(string stanza, string path, string repository)
    {
        var request = new BackRestRequest { Primary = Node("db1", "/d"), Repository = new PgNode(repository), Stanza = stanza, RepositoryPath = path };
        Assert.Throws<ArgumentException>(() => PgBackRest.ValidateRequest(request));
    }

    [Fact]
    public void Info_gives_the_status_the_backups_and_the_archived_range()
    {
        const string json = """
            [{"name":"main","status":{"code":0,"message":"ok"},
              "archive":[{"id":"15-1","min":"000000010000000000000003","max":"000000010000000000000007"}],
              "backup":[{"label":"20261205-223724F","type":"full"},{"label":"20261205-223724F_20261205-230000I","type":"incr"}]}]
            """;
        var info = PgBackRest.ParseInfo(json, "main", "backup1");
        Assert.Equal("ok", info.Status);
        Assert.Equal(2, info.Backups);
        Assert.Equal("20261205-223724F_20261205-230000I", info.LastBackup);
        Assert.Equal("000000010000000000000003", info.ArchiveMin);
        Assert.Equal("000000010000000000000007", info.ArchiveMax);
        Assert.Equal("missing stanza path", PgBackRest.ParseInfo("[]", "main", "backup1").Status);
    }
}

/// <summary>Issue 22, point 3: pg_rewind fetching WAL gone from the node's pg_wal from the archive, where the major allows.</summary>
public sealed class RewindTargetWalTests
{
    private const string ArchiveGet = "pgbackrest --config=/var/lib/postgresql/.pgbackrest/pgbackrest.conf --stanza=main archive-get %f \"%p\"";
    private const string DebianConfig = "/etc/postgresql/15/main/postgresql.conf";

    [Fact]
    public void Without_an_archive_nothing_is_used_or_said()
    {
        Assert.Equal(new TargetWal(false, null, null, null), Rejoin.TargetWalFor(15, null, null, null, "db1"));
        Assert.Equal(new TargetWal(false, null, null, null), Rejoin.TargetWalFor(11, "", null, null, "db1"));
    }

    [Fact]
    public void From_13_the_cluster_archive_get_is_written_when_the_node_has_no_restore_command_of_its_own()
    {
        Assert.Equal(new TargetWal(true, ArchiveGet, null, null), Rejoin.TargetWalFor(13, null, ArchiveGet, null, "db1"));
        Assert.Equal(new TargetWal(true, null, null, null), Rejoin.TargetWalFor(16, "cp /archive/%f %p", ArchiveGet, null, "db1"));
    }

    [Fact]
    public void A_config_outside_the_data_directory_is_named_from_15_and_impossible_before()
    {
        Assert.Equal(new TargetWal(true, ArchiveGet, DebianConfig, null), Rejoin.TargetWalFor(15, null, ArchiveGet, DebianConfig, "db1"));
        var fourteen = Rejoin.TargetWalFor(14, null, ArchiveGet, DebianConfig, "db1");
        Assert.False(fourteen.Use);
        Assert.Contains("--config-file is 15+", fourteen.Note);
        Assert.Contains(DebianConfig, fourteen.Note);
    }

    [Theory]
    [InlineData(10)]
    [InlineData(12)]
    public void Before_13_it_is_not_possible_and_said_naming_the_node(int major)
    {
        var wal = Rejoin.TargetWalFor(major, "cp /archive/%f %p", ArchiveGet, null, "db1");
        Assert.False(wal.Use);
        Assert.Contains("--restore-target-wal is 13+", wal.Note);
        Assert.Contains("db1", wal.Note);
        Assert.Contains("-AllowReclone", wal.Note);
    }
}

/// <summary>Issue 22, point 2: Test-PgReplication's check of a pgBackRest archive, decided from archive_command and `pgbackrest info`.</summary>
public sealed class BackRestArchiveCheckTests
{
    [Fact]
    public void Only_a_pgbackrest_archive_push_command_names_a_repository_to_read()
    {
        Assert.Equal(("/var/lib/postgresql/.pgbackrest/pgbackrest.conf", "main"),
            PgBackRest.ArchivePushTarget(PgBackRest.ArchivePushCommand("/var/lib/postgresql/.pgbackrest/pgbackrest.conf", "main")));
        Assert.Equal(((string?)null, "db"), PgBackRest.ArchivePushTarget("/usr/bin/pgbackrest --stanza=db archive-push %p"));
        Assert.Equal(("/h/100%/x.conf", "main"), PgBackRest.ArchivePushTarget(PgBackRest.ArchivePushCommand("/h/100%/x.conf", "main")));
        Assert.Null(PgBackRest.ArchivePushTarget("test ! -f /archive/%f && cp %p /archive/%f"));
        Assert.Null(PgBackRest.ArchivePushTarget("pgbackrest --stanza=main archive-get %f %p"));
        Assert.Null(PgBackRest.ArchivePushTarget(null));
    }

    private static BackRestInfo Info(string status = "ok", int backups = 1, string? max = "000000010000000000000007") =>
        new() { Stanza = "main", Repository = "backup1", Status = status, Backups = backups, LastBackup = backups > 0 ? "20261206-071500F" : null, ArchiveMax = max };

    [Fact]
    public void A_healthy_archive_reports_the_last_archived_WAL_and_the_last_backup()
    {
        var check = PgBackRest.ArchiveHealth(Info(), "000000010000000000000007");
        Assert.True(check.Passed);
        Assert.Equal(PgBackRest.ArchiveCheckName, check.Name);
        Assert.Contains("000000010000000000000007", check.Message);
        Assert.Contains("20261206-071500F", check.Message);
        Assert.True(PgBackRest.ArchiveHealth(Info(), "000000010000000000000007.00000028.backup").Passed);
        Assert.True(PgBackRest.ArchiveHealth(Info(max: "000000020000000000000009"), "00000002.history").Passed);
    }

    [Fact]
    public void A_bad_stanza_no_backup_or_a_repository_behind_the_primary_fails()
    {
        Assert.False(PgBackRest.ArchiveHealth(Info(status: "missing stanza path"), null).Passed);
        Assert.Contains("no backup", PgBackRest.ArchiveHealth(Info(backups: 0), null).Message);
        var behind = PgBackRest.ArchiveHealth(Info(), "000000010000000000000009");
        Assert.False(behind.Passed);
        Assert.Contains("lacks WAL", behind.Message);
    }
}
