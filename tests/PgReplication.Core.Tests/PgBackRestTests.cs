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
