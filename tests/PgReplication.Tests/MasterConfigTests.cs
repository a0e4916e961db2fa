using System.Management.Automation;
using System.Net;
using Npgsql;
using Npgsql.Replication;
using PgReplication.Core.Config;
using PgReplication.Core.Model;
using static PgReplication.Tests.ClusterHelpers;

namespace PgReplication.Tests;

[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class MasterConfigTests : IClassFixture<LocalCluster>, IDisposable
{
    private const string Role = "replicator";
    private const string RolePassword = "Repl-'$\\-\u00fc";
    private readonly LocalCluster _cluster;
    private readonly ModuleRunspace _ps = new();

    public MasterConfigTests(LocalCluster cluster) => _cluster = cluster;

    private string HbaPath => Path.Combine(_cluster.DataDirectory, "pg_hba.conf");
    private string AutoConfPath => Path.Combine(_cluster.DataDirectory, "postgresql.auto.conf");

    private ModuleRunspace.Result Run(string arguments, params (string, object?)[] vars) =>
        _ps.Invoke("New-PgNode -Local -Port $port -Credential $cred | New-PgReplicationUser -Credential $rcred | Set-PgMasterConfig " + arguments,
            Vars(_cluster, vars.Append(("rcred", PsCredential(Role, RolePassword))).ToArray()));

    private (string Hba, string Auto) Hashes() => (Hash(HbaPath), Hash(AutoConfPath));

    private string? IdentifySystemFrom(string source)
    {
        using var proxy = new SourceAddressProxy(IPAddress.Parse(source), _cluster.Port);
        var builder = new NpgsqlConnectionStringBuilder
        {
            Host = "127.0.0.1", Port = proxy.Port, Username = Role, Password = RolePassword, Pooling = false, Timeout = 10,
        };
        var connection = new PhysicalReplicationConnection(builder.ConnectionString);
        try
        {
            connection.Open().GetAwaiter().GetResult();
            return connection.IdentifySystem().GetAwaiter().GetResult().SystemId;
        }
        finally { connection.DisposeAsync().AsTask().GetAwaiter().GetResult(); }
    }

    [Fact]
    public void Each_standby_gets_one_hba_line_and_only_its_address_can_replicate_and_a_second_run_changes_nothing()
    {
        var r = Run("-Standby 127.0.0.2, (New-PgNode 127.0.0.4 -NoConnect) -Restart -Verbose 4>&1");
        Assert.Empty(r.Errors);
        var node = Assert.Single(r.Output.Select(o => o.BaseObject).OfType<PgNode>());
        Assert.Equal(NodeRole.Primary, node.Role);

        var lines = HbaFile.Parse(File.ReadAllText(HbaPath)).Where(l => l.IsRule && l.User!.Items[0].Value == Role).ToList();
        Assert.Equal(new[] { "127.0.0.2/32", "127.0.0.4/32" }, lines.Select(l => l.Address).Order());
        Assert.All(lines, l => Assert.Equal("scram-sha-256", l.Method));
        Assert.All(lines, l => Assert.Equal("host", l.Type));

        // Settings: the restart made them all live.
        Assert.Equal("on", Scalar<string>(_cluster, "SELECT pg_catalog.current_setting('wal_log_hints')"));
        Assert.Equal("1GB", Scalar<string>(_cluster, "SELECT pg_catalog.current_setting('wal_keep_size')"));
        Assert.Equal("replica", Scalar<string>(_cluster, "SELECT pg_catalog.current_setting('wal_level')"));
        Assert.Equal(0L, Scalar<long>(_cluster, "SELECT pg_catalog.count(*) FROM pg_catalog.pg_settings s WHERE s.pending_restart"));

        var systemId = Scalar<string>(_cluster, "SELECT s.system_identifier::text FROM pg_catalog.pg_control_system() s");
        Assert.Equal(systemId, IdentifySystemFrom("127.0.0.2"));
        var refused = Assert.ThrowsAny<PostgresException>(() => IdentifySystemFrom("127.0.0.3"));
        Assert.Equal("28000", refused.SqlState); // no pg_hba.conf entry

        var before = Hashes();
        var again = Run("-Standby 127.0.0.2, 127.0.0.4 -Verbose 4>&1 3>&1");
        Assert.Empty(again.Errors);
        Assert.Equal(before, Hashes());
        Assert.Contains(again.Output, o => o.BaseObject is VerboseRecord v && v.Message.Contains("nothing to change"));
        Assert.DoesNotContain(again.Output, o => o.BaseObject is WarningRecord);
    }

    [Fact]
    public void WhatIf_changes_no_file()
    {
        var before = Hashes();
        var r = Run("-Standby 127.0.0.9 -WalKeepSize 4096 -WalArchive 'cp %p /nonexistent/%f' -WhatIf");
        Assert.Empty(r.Errors);
        Assert.Empty(r.Output.Select(o => o.BaseObject).OfType<PgNode>());
        Assert.Equal(before, Hashes());
        Assert.DoesNotContain("127.0.0.9", File.ReadAllText(HbaPath));
    }

    [Theory]
    [InlineData("-Standby \"127.0.0.5`n\"", "127.0.0.5")]
    [InlineData("-Standby 127.0.0.5 -WalArchive \"cp %p /tmp/x`nrm -rf /\"", "cp %p /tmp/x")]
    [InlineData("-Standby 127.0.0.5 -SynchronousStandby \"db2`r\"", "db2")]
    [InlineData("-Standby 127.0.0.5 -ListenAddress \"127.0.0.1`n\"", "127.0.0.1")]
    public void A_value_with_a_line_break_is_refused_and_no_file_changes(string arguments, string named)
    {
        var before = Hashes();
        var r = Run(arguments);
        var error = Assert.Single(r.Errors);
        Assert.Contains(named, error.Exception.Message);
        Assert.Contains("line break", error.Exception.Message);
        Assert.Equal(before, Hashes());
    }

    [Fact]
    public void An_hba_file_the_server_rejects_is_put_back_and_the_server_keeps_serving()
    {
        // hostssl with ssl = off: our dry parse accepts it, the server's pg_hba_file_rules reports an error.
        Assert.Equal("off", Scalar<string>(_cluster, "SELECT pg_catalog.current_setting('ssl')"));
        var before = File.ReadAllText(HbaPath);
        var r = Run("-Standby 127.0.0.6 -RequireSsl");
        var error = Assert.Single(r.Errors);
        Assert.Contains("put back", error.Exception.Message);
        Assert.Contains($"127.0.0.1:{_cluster.Port}", error.Exception.Message);
        Assert.Equal(before, File.ReadAllText(HbaPath));
        Assert.Equal(0L, Scalar<long>(_cluster, "SELECT pg_catalog.count(*) FROM pg_catalog.pg_hba_file_rules h WHERE h.error IS NOT NULL"));
        Assert.Equal(1, Scalar<int>(_cluster, "SELECT 1"));
    }

    [Fact]
    public void Archiving_to_a_directory_delivers_WAL_and_fails_loudly_when_the_directory_is_unwritable()
    {
        var archive = Path.Combine(_cluster.Root, "wal archive");
        var r = Run("-Standby 127.0.0.2 -WalArchive $dir 3>&1", ("dir", archive));
        Assert.Empty(r.Errors);
        Assert.Contains(r.Output, o => o.BaseObject is WarningRecord w && w.Message.Contains("archive_mode"));
        Assert.True(Directory.Exists(archive));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(archive));

        Assert.Empty(Run("-Standby 127.0.0.2 -WalArchive $dir -Restart", ("dir", archive)).Errors);
        Assert.Equal("on", Scalar<string>(_cluster, "SELECT pg_catalog.current_setting('archive_mode')"));

        Execute(_cluster, "CREATE TABLE IF NOT EXISTS archive_probe (x int)");
        Execute(_cluster, "INSERT INTO archive_probe VALUES (1)");
        var wal = Scalar<string>(_cluster, "SELECT pg_catalog.pg_walfile_name(pg_catalog.pg_switch_wal())")!;
        WaitFor(() => File.Exists(Path.Combine(archive, wal)), $"{wal} in the archive");
        Assert.Equal(16 * 1024 * 1024, new FileInfo(Path.Combine(archive, wal)).Length);
        Assert.Empty(Directory.GetFiles(archive, "*.part"));
        Assert.Equal(0L, Scalar<long>(_cluster, "SELECT a.failed_count FROM pg_catalog.pg_stat_archiver a"));

        File.SetUnixFileMode(archive, UnixFileMode.UserRead | UnixFileMode.UserExecute);
        try
        {
            Execute(_cluster, "INSERT INTO archive_probe VALUES (2)");
            var next = Scalar<string>(_cluster, "SELECT pg_catalog.pg_walfile_name(pg_catalog.pg_switch_wal())")!;
            WaitFor(() => Scalar<long>(_cluster, "SELECT a.failed_count FROM pg_catalog.pg_stat_archiver a") > 0, "a failed archive attempt");
            Assert.False(File.Exists(Path.Combine(archive, next)));
            Assert.Equal(next, Scalar<string>(_cluster, "SELECT a.last_failed_wal FROM pg_catalog.pg_stat_archiver a"));
        }
        finally
        {
            File.SetUnixFileMode(archive, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
    }

    [Fact]
    public void An_archive_directory_the_server_cannot_write_is_refused_before_anything_changes()
    {
        var archive = Path.Combine(_cluster.Root, "not-writable");
        Directory.CreateDirectory(archive); // owned by the test's user (root): postgres cannot write there
        if (Environment.UserName != "root") File.SetUnixFileMode(archive, UnixFileMode.UserRead | UnixFileMode.UserExecute);
        var before = Hashes();
        var r = Run("-Standby 127.0.0.2 -WalArchive $dir", ("dir", archive));
        var error = Assert.Single(r.Errors);
        Assert.Contains(archive, error.Exception.Message);
        Assert.Contains($"127.0.0.1:{_cluster.Port}", error.Exception.Message);
        Assert.Equal(before, Hashes());
    }

    [Fact]
    public void Trust_and_md5_replication_lines_become_scram_for_the_same_address_and_role_unless_a_role_has_no_scram_password()
    {
        var original = File.ReadAllText(HbaPath);
        var mode = File.GetUnixFileMode(HbaPath);
        // A role whose password is an md5 hash: a scram-sha-256 line would lock it out.
        var md5 = "md5" + Convert.ToHexString(System.Security.Cryptography.MD5.HashData(System.Text.Encoding.UTF8.GetBytes("Md5-only-1md5_only"))).ToLowerInvariant();
        Execute(_cluster, $"CREATE ROLE md5_only LOGIN REPLICATION PASSWORD '{md5}'");
        File.AppendAllText(HbaPath,
            "host    replication     replicator      127.0.0.7/32            md5   # by hand\n" +
            "host    replication     replicator      127.0.0.9/32            trust\n" +
            "host    replication     md5_only        127.0.0.8/32            md5\n");
        Execute(_cluster, "SELECT pg_catalog.pg_reload_conf()");
        try
        {
            var r = Run("-Confirm:$false 3>&1");
            Assert.Empty(r.Errors);
            var lines = HbaFile.Parse(File.ReadAllText(HbaPath));
            Assert.Contains(lines, l => l.Text == "host    replication     replicator      127.0.0.7/32            scram-sha-256   # by hand");
            Assert.Equal("scram-sha-256", lines.Single(l => l.Address == "127.0.0.9/32").Method);
            Assert.Equal("md5", lines.Single(l => l.Address == "127.0.0.8/32").Method);
            Assert.Contains(r.Output, o => o.BaseObject is WarningRecord w && w.Message.Contains("'md5_only'") && w.Message.Contains("127.0.0.8/32"));
            Assert.Equal(mode, File.GetUnixFileMode(HbaPath));
            Assert.Equal(2L, Scalar<long>(_cluster,
                "SELECT pg_catalog.count(*) FROM pg_catalog.pg_hba_file_rules h WHERE h.address IN ('127.0.0.7', '127.0.0.9') AND h.auth_method = 'scram-sha-256'"));
            // The role keeps logging in from the same address, now with SCRAM.
            Assert.NotNull(IdentifySystemFrom("127.0.0.7"));
            Assert.NotNull(IdentifySystemFrom("127.0.0.9"));
        }
        finally
        {
            File.WriteAllText(HbaPath, original);
            File.SetUnixFileMode(HbaPath, mode);
            Execute(_cluster, "SELECT pg_catalog.pg_reload_conf()");
            Execute(_cluster, "DROP ROLE md5_only");
        }
    }

    [Fact]
    public void Without_a_replication_user_the_error_says_what_to_give()
    {
        var r = _ps.Invoke("New-PgNode -Local -Port $port -Credential $cred | Set-PgMasterConfig -Standby 127.0.0.2", Vars(_cluster));
        var error = Assert.Single(r.Errors);
        Assert.Contains("-ReplicationUser", error.Exception.Message);
        Assert.Equal("PgReplication.NoReplicationUser,PgReplication.Commands.SetPgMasterConfigCommand", error.FullyQualifiedErrorId);
    }

    public void Dispose() => _ps.Dispose();
}
