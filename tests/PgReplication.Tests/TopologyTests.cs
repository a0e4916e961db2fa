using System.Diagnostics;
using PgReplication.Core.Model;
using static PgReplication.Tests.ClusterHelpers;

namespace PgReplication.Tests;

/// <summary>Get-PgReplicationTopology against a real primary, a standby built by the module, a dead port and a second primary.</summary>
public sealed class TopologyTests : IClassFixture<LocalCluster>, IDisposable
{
    private readonly LocalCluster _primary;
    private readonly ModuleRunspace _ps = new();
    private string? _standbyDirectory;
    private const string ReplicationUser = "topology_repl";
    private readonly string _replicationPassword = "Topo-" + Guid.NewGuid().ToString("N");

    public TopologyTests(LocalCluster primary)
    {
        _primary = primary;
        _primary.Sql($"DROP ROLE IF EXISTS {ReplicationUser}; CREATE ROLE {ReplicationUser} LOGIN REPLICATION PASSWORD '{_replicationPassword}'");
    }

    private static List<TopologyRow> Rows(ModuleRunspace.Result r) => r.Output.Select(o => (TopologyRow)o.BaseObject).ToList();

    [Fact]
    public void A_primary_its_standby_and_a_dead_port_each_get_a_row_in_tree_order()
    {
        var (port, dir) = _primary.NewStandbySpace("topology-standby");
        _standbyDirectory = dir;
        var vars = Vars(_primary, ("sp", port), ("dir", dir), ("dead", LocalCluster.FreePort()),
            ("repl", PsCredential(ReplicationUser, _replicationPassword)));
        var built = _ps.Invoke("""
            $primary = New-PgNode -Local -Port $port -Credential $cred
            $standby = New-PgNode "127.0.0.1:$sp" -Local -NoConnect -Credential $cred |
                Invoke-PgBaseBackup -Primary $primary -Credential $repl -DataDirectory $dir -Confirm:$false |
                Enable-PgHotStandby -TimeoutSeconds 60
            """, vars);
        Assert.Empty(built.Errors);

        var clock = Stopwatch.StartNew();
        // The dead node comes first and as a string: it takes the -Credential, and must not hold up the others.
        var r = _ps.Invoke("""$rows = Get-PgReplicationTopology "127.0.0.1:$dead", $standby, $primary -Credential $cred -TimeoutSeconds 5; $rows""");
        clock.Stop();
        Assert.Empty(r.Errors);
        var rows = Rows(r);
        Assert.Equal([$"127.0.0.1:{_primary.Port}", $"127.0.0.1:{port}", $"127.0.0.1:{vars["dead"]}"], rows.Select(x => x.Name));

        var (primary, standby, dead) = (rows[0], rows[1], rows[2]);
        Assert.Equal((NodeRole.Primary, TopologyRow.Running), (primary.Role, primary.Status));
        Assert.Equal((NodeRole.Standby, TopologyRow.Running), (standby.Role, standby.Status));
        Assert.True(standby.IsHealthy, standby.Message);
        Assert.Equal(primary.Name, standby.Upstream);
        Assert.NotNull(standby.LagBytes);
        Assert.Equal("127_0_0_1_" + port, standby.Slot);
        Assert.Equal(1, standby.Depth);
        Assert.Equal(primary.Timeline, standby.Timeline);
        Assert.Matches("^[0-9A-F]+/[0-9A-F]+$", standby.Lsn);
        Assert.Equal((NodeRole.Unreachable, TopologyRow.Unreachable), (dead.Role, dead.Status));
        Assert.Contains($"127.0.0.1:{vars["dead"]}", dead.Message);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"took {clock.Elapsed}");

        var tree = string.Concat(_ps.Invoke("$rows | Format-Table -View Tree | Out-String -Width 120").Output);
        Assert.Contains($"└─ 127.0.0.1:{port}", tree);
        var table = string.Concat(_ps.Invoke("$rows | Format-Table | Out-String -Width 120").Output);
        Assert.Contains("unreachable", table);
        Assert.Contains("127_0_0_1_" + port, table);
    }

    [Fact]
    public void A_second_primary_in_the_input_makes_both_split_brain_with_a_warning_naming_both()
    {
        using var other = new LocalCluster();
        var vars = Vars(_primary, ("op", other.Port), ("other", PsCredential(LocalCluster.AdminUser, other.Password)));
        var r = _ps.Invoke("""
            $a = New-PgNode -Local -Port $port -Credential $cred
            $b = New-PgNode -Local -Port $op -Credential $other
            $a, $b | Get-PgReplicationTopology -WarningVariable topologyWarnings -WarningAction SilentlyContinue
            """, vars);
        Assert.Empty(r.Errors);
        var rows = Rows(r);
        Assert.Equal(2, rows.Count);
        Assert.All(rows, x => Assert.Equal((NodeRole.Primary, TopologyRow.SplitBrain), (x.Role, x.Status)));
        var warning = Assert.Single(_ps.Invoke("$topologyWarnings").Output).ToString();
        Assert.Contains($"127.0.0.1:{_primary.Port}", warning);
        Assert.Contains($"127.0.0.1:{other.Port}", warning);
        Assert.Contains("Split brain", warning);
    }

    public void Dispose()
    {
        if (_standbyDirectory is { } dir)
        {
            _primary.StopServer(dir);
            if (Directory.Exists(dir)) Directory.Delete(dir, true);
        }
        _ps.Dispose();
    }
}
