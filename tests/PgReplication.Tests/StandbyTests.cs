using System.Management.Automation;
using System.Security;
using PgReplication.Core.Model;

namespace PgReplication.Tests;

/// <summary>Invoke-PgBaseBackup | Enable-PgHotStandby | Test-PgReplication against real local clusters.</summary>
public sealed class StandbyTests : IClassFixture<LocalCluster>, IDisposable
{
    private readonly LocalCluster _primary;
    private readonly ModuleRunspace _ps = new();
    private readonly List<string> _standbyDirectories = new();
    private const string ReplicationUser = "repl user";
    private readonly string _replicationPassword = "R3pl'pa$$ \\ wörd-" + Guid.NewGuid().ToString("N")[..8];

    public StandbyTests(LocalCluster primary)
    {
        _primary = primary;
        var verifierless = _replicationPassword.Replace("'", "''");
        _primary.Sql($"DO $$BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{ReplicationUser}') THEN CREATE ROLE \"{ReplicationUser}\" LOGIN REPLICATION; END IF; END$$");
        _primary.Sql($"ALTER ROLE \"{ReplicationUser}\" PASSWORD E'{verifierless.Replace("\\", "\\\\")}'");
    }

    private static PSCredential Credential(string user, string password)
    {
        var secure = new SecureString();
        foreach (var c in password) secure.AppendChar(c);
        return new PSCredential(user, secure);
    }

    private Dictionary<string, object?> Vars(int standbyPort, string directory) => new()
    {
        ["pp"] = _primary.Port, ["sp"] = standbyPort, ["dir"] = directory,
        ["admin"] = Credential(LocalCluster.AdminUser, _primary.Password),
        ["repl"] = Credential(ReplicationUser, _replicationPassword),
    };

    private const string Pipeline = """
        $primary = New-PgNode -Local -Port $pp -Credential $admin
        New-PgNode "127.0.0.1:$sp" -Local -NoConnect -Credential $admin |
            Invoke-PgBaseBackup -Primary $primary -Credential $repl -DataDirectory $dir -Confirm:$false |
            Enable-PgHotStandby -TimeoutSeconds 60
        """;

    [Fact]
    public void A_local_standby_is_built_streams_and_has_the_rows()
    {
        var (port, dir) = _primary.NewStandbySpace("standby-a");
        _standbyDirectories.Add(dir);
        var r = _ps.Invoke(Pipeline + " | Test-PgReplication 3>&1", Vars(port, dir));
        Assert.Empty(r.Errors);
        // One result, and no warning: built by the module (the password in the passfile, SCRAM lines, a plain replication
        // role), the standby has no security finding.
        var health = Assert.IsType<ReplicationHealth>(Assert.Single(r.Output).BaseObject);
        Assert.True(health.IsHealthy, string.Join("; ", health.Checks));
        Assert.Equal("streaming", health.State);
        Assert.Equal("127_0_0_1_" + port, health.SlotName);
        Assert.True(health.SlotActive);
        Assert.Empty(health.SecurityFindings);

        _primary.Sql("CREATE TABLE IF NOT EXISTS demo_rows (id int); INSERT INTO demo_rows SELECT generate_series(1, 100)");
        var deadline = DateTime.UtcNow.AddSeconds(20);
        object? count = null;
        while (DateTime.UtcNow < deadline)
        {
            try { count = _primary.Sql("SELECT count(*) FROM demo_rows", port); if (Convert.ToInt64(count) >= 100) break; }
            catch (Npgsql.PostgresException) { }
            Thread.Sleep(200);
        }
        Assert.True(Convert.ToInt64(count) >= 100);
        var write = Assert.Throws<Npgsql.PostgresException>(() => _primary.Sql("CREATE TABLE nope (id int)", port));
        Assert.Equal("25006", write.SqlState); // read_only_sql_transaction

        // The password is only in the 0600 passfile the conninfo points at, never in the standby's config.
        var autoConf = File.ReadAllText(Path.Combine(dir, "postgresql.auto.conf"));
        Assert.DoesNotContain(_replicationPassword, autoConf);
        Assert.Contains("passfile=", autoConf);
        Assert.True(File.Exists(Path.Combine(dir, "standby.signal")));

        // A second run changes nothing and says so.
        var again = _ps.Invoke("$VerbosePreference = 'Continue'\n" + Pipeline, Vars(port, dir));
        Assert.Empty(again.Errors);
        var text = string.Join("\n", again.Verbose);
        Assert.True(text.Contains("nothing changed"), text);
        Assert.Contains("nothing to change", text);
    }

    [Fact]
    public void Test_PgReplication_names_the_failing_check_when_replay_is_paused_lag_grows_or_the_standby_stops()
    {
        var (port, dir) = _primary.NewStandbySpace("standby-b");
        _standbyDirectories.Add(dir);
        var vars = Vars(port, dir);
        var built = _ps.Invoke("""
            $primary = New-PgNode -Local -Port $pp -Credential $admin
            $standby = New-PgNode "127.0.0.1:$sp" -Local -NoConnect -Credential $admin |
                Invoke-PgBaseBackup -Primary $primary -Credential $repl -DataDirectory $dir -Confirm:$false |
                Enable-PgHotStandby -TimeoutSeconds 60
            """, vars);
        Assert.Empty(built.Errors);
        Assert.True((bool)_ps.Invoke("$primary, $standby | Test-PgReplication -Quiet").Output.Single().BaseObject);

        // Its pooled connections are broken by a restart of the standby: the next check connects again, it does
        // not report a standby that answers as unreachable.
        _primary.RestartServer(dir);
        var restarted = (ReplicationHealth)_ps.Invoke("$primary, $standby | Test-PgReplication").Output.Single().BaseObject;
        Assert.True(restarted.Checks.Single(c => c.Name == "connected").Passed, string.Join("; ", restarted.Checks));
        ClusterHelpers.WaitFor(() => (bool)_ps.Invoke("$primary, $standby | Test-PgReplication -Quiet").Output.Single().BaseObject,
            "the restarted standby streaming again");

        // Replay paused, and the primary writes on: two named checks fail.
        _primary.Sql("SELECT pg_wal_replay_pause()", port);
        _primary.Sql("CREATE TABLE IF NOT EXISTS lag_rows AS SELECT g FROM generate_series(1, 20000) g");
        var paused = (ReplicationHealth)_ps.Invoke("$standby | Test-PgReplication -MaxLagBytes 1024").Output.Single().BaseObject;
        Assert.False(paused.IsHealthy);
        Assert.Contains("replay not paused", paused.Failing);
        Assert.Contains("lag under threshold", paused.Failing);
        Assert.True(paused.LagBytes > 1024);
        Assert.False((bool)_ps.Invoke("$standby | Test-PgReplication -Quiet").Output.Single().BaseObject);
        _primary.Sql("SELECT pg_wal_replay_resume()", port);

        // Stopped: the primary shows no sender and the standby does not answer.
        _primary.StopServer(dir);
        var stopped = (ReplicationHealth)_ps.Invoke("$primary, $standby | Test-PgReplication").Output.Single().BaseObject;
        Assert.False(stopped.IsHealthy);
        Assert.Equal("unreachable", stopped.State);
        Assert.Contains("connected", stopped.Failing);
        Assert.Contains("streaming", stopped.Failing);

        // The table view puts the failing checks in view.
        var table = string.Concat(_ps.Invoke("$primary, $standby | Test-PgReplication | Format-Table | Out-String -Width 120").Output);
        Assert.Contains("connected,streaming", table);
    }

    [Fact]
    public void Test_PgReplication_works_for_a_role_that_may_not_list_pg_wal()
    {
        var (port, dir) = _primary.NewStandbySpace("standby-reader");
        _standbyDirectories.Add(dir);
        var built = _ps.Invoke(Pipeline, Vars(port, dir));
        Assert.Empty(built.Errors);

        // Reads settings and statistics, but is neither superuser nor pg_monitor: pg_ls_waldir() is refused.
        // That statement rides last in the primary's batch; its refusal must not fail the others.
        var readerPassword = "Rd-" + Guid.NewGuid().ToString("N")[..12];
        _primary.Sql($"""
            DO $$BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'health_reader') THEN CREATE ROLE health_reader LOGIN; END IF; END$$;
            ALTER ROLE health_reader PASSWORD '{readerPassword}';
            GRANT pg_read_all_settings, pg_read_all_stats TO health_reader;
            GRANT EXECUTE ON FUNCTION pg_control_system(), pg_control_checkpoint() TO health_reader;
            """);
        Assert.False((bool)_primary.Sql("SELECT has_function_privilege('health_reader', 'pg_ls_waldir()', 'EXECUTE')")!);
        var vars = Vars(port, dir);
        vars["reader"] = Credential("health_reader", readerPassword);
        ClusterHelpers.WaitFor(() => Convert.ToInt64(_primary.Sql("SELECT count(*) FROM pg_roles WHERE rolname = 'health_reader'", port)) == 1,
            "the role replayed on the standby");
        var check = _ps.Invoke("""
            $p = New-PgNode -Local -Port $pp -Credential $reader
            $s = New-PgNode "127.0.0.1:$sp" -Local -Credential $reader
            $p, $s | Test-PgReplication
            """, vars);
        Assert.Empty(check.Errors);
        var health = Assert.IsType<ReplicationHealth>(Assert.Single(check.Output).BaseObject);
        Assert.True(health.IsHealthy, string.Join("; ", health.Checks));
        Assert.Equal("streaming", health.State);
    }

    [Fact]
    public void The_rsync_method_builds_a_streaming_standby_and_resyncs_it()
    {
        var (port, dir) = _primary.NewStandbySpace("standby-rsync");
        _standbyDirectories.Add(dir);
        var script = Pipeline.Replace("-Confirm:$false", "-Method Rsync -Confirm:$false") + " | Test-PgReplication";
        var r = _ps.Invoke(script, Vars(port, dir));
        Assert.Empty(r.Errors);
        var health = (ReplicationHealth)r.Output.Single().BaseObject;
        Assert.True(health.IsHealthy, string.Join("; ", health.Checks));
        Assert.False(File.Exists(Path.Combine(dir, "postmaster.opts.pgrepl-none")));

        // Re-sync: the standby is stopped (-Force), rsync sends what changed, it streams again.
        _primary.Sql("CREATE TABLE IF NOT EXISTS rsync_rows AS SELECT g FROM generate_series(1, 5000) g");
        var again = _ps.Invoke(script.Replace("-Method Rsync", "-Method Rsync -Force"), Vars(port, dir));
        Assert.Empty(again.Errors);
        Assert.True(((ReplicationHealth)again.Output.Single().BaseObject).IsHealthy);
        var primaryCount = Convert.ToInt64(_primary.Sql("SELECT count(*) FROM rsync_rows"));
        Assert.Equal(5000L, primaryCount);
        var deadline = DateTime.UtcNow.AddSeconds(20);
        long standbyCount = -1;
        while (DateTime.UtcNow < deadline)
        {
            try { standbyCount = Convert.ToInt64(_primary.Sql("SELECT count(*) FROM rsync_rows", port)); if (standbyCount == 5000) break; }
            catch (Npgsql.PostgresException) { }
            Thread.Sleep(200);
        }
        Assert.Equal(5000L, standbyCount);
    }

    [Fact]
    public void A_non_empty_target_is_refused_naming_the_host_and_left_alone()
    {
        var (port, dir) = _primary.NewStandbySpace("standby-busy");
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "precious.txt"), "keep me");
        var r = _ps.Invoke(Pipeline, Vars(port, dir));
        var error = Assert.Single(r.Errors);
        Assert.Contains($"127.0.0.1:{port}", error.Exception.Message);
        Assert.Contains("not empty", error.Exception.Message);
        Assert.Equal("keep me", File.ReadAllText(Path.Combine(dir, "precious.txt")));
        Directory.Delete(dir, true);
    }

    [Fact]
    public void WhatIf_lists_the_steps_and_changes_nothing()
    {
        var (port, dir) = _primary.NewStandbySpace("standby-whatif");
        var r = _ps.Invoke("""
            $primary = New-PgNode -Local -Port $pp -Credential $admin
            New-PgNode "127.0.0.1:$sp" -Local -NoConnect -Credential $admin |
                Invoke-PgBaseBackup -Primary $primary -Credential $repl -DataDirectory $dir -WhatIf
            """, Vars(port, dir));
        Assert.Empty(r.Errors);
        Assert.Empty(r.Output);
        Assert.False(Directory.Exists(dir));
        Assert.Equal(0L, Convert.ToInt64(_primary.Sql($"SELECT count(*) FROM pg_replication_slots WHERE slot_name = '127_0_0_1_{port}'")));
    }

    public void Dispose()
    {
        foreach (var dir in _standbyDirectories)
        {
            _primary.StopServer(dir);
            if (Directory.Exists(dir)) Directory.Delete(dir, true);
        }
        _ps.Dispose();
    }
}
