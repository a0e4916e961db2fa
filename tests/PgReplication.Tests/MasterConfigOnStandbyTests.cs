using PgReplication.Core.Model;
using static PgReplication.Tests.ClusterHelpers;

namespace PgReplication.Tests;

/// <summary>The primary-side cmdlets refuse a standby, naming it, and change nothing there.</summary>
public sealed class MasterConfigOnStandbyTests : IClassFixture<LocalCluster>, IDisposable
{
    private readonly LocalCluster _cluster;
    private readonly ModuleRunspace _ps = new();
    private string? _standbyDirectory;

    public MasterConfigOnStandbyTests(LocalCluster cluster) => _cluster = cluster;

    [Fact]
    public void A_standby_is_refused_with_an_error_naming_it()
    {
        var (port, dir) = _cluster.NewStandbySpace("standby-refuse");
        _standbyDirectory = dir;
        var build = _ps.Invoke("""
            $primary = New-PgNode -Local -Port $port -Credential $cred | New-PgReplicationUser -Credential $rcred |
                Set-PgMasterConfig -Standby 127.0.0.1 -Restart
            New-PgNode "127.0.0.1:$sport" -Local -NoConnect -Credential $cred |
                Invoke-PgBaseBackup -Primary $primary -DataDirectory $dir -Confirm:$false | Enable-PgHotStandby -TimeoutSeconds 60
            """, Vars(_cluster, ("rcred", PsCredential("repl_s", "Secret-s1")), ("sport", port), ("dir", dir)));
        Assert.Empty(build.Errors);
        var standby = (PgNode)build.Output.Last().BaseObject;
        Assert.Equal(NodeRole.Standby, standby.Role);

        var user = _ps.Invoke("New-PgNode -Local -Port $sport -Credential $cred | New-PgReplicationUser -Credential $rcred",
            Vars(_cluster, ("rcred", PsCredential("repl_t", "Secret-t1")), ("sport", port)));
        var error = Assert.Single(user.Errors);
        Assert.Equal("PgReplication.NotPrimary,PgReplication.Commands.NewPgReplicationUserCommand", error.FullyQualifiedErrorId);
        Assert.Contains($"127.0.0.1:{port}", error.Exception.Message);
        Assert.Empty(user.Output);

        var before = Hash(Path.Combine(dir, "pg_hba.conf"));
        var config = _ps.Invoke("New-PgNode -Local -Port $sport -Credential $cred | Set-PgMasterConfig -Standby 127.0.0.7 -ReplicationUser repl_s",
            Vars(_cluster, ("sport", port)));
        error = Assert.Single(config.Errors);
        Assert.Equal("PgReplication.NotPrimary,PgReplication.Commands.SetPgMasterConfigCommand", error.FullyQualifiedErrorId);
        Assert.Contains($"127.0.0.1:{port}", error.Exception.Message);
        Assert.Equal(before, Hash(Path.Combine(dir, "pg_hba.conf")));
    }

    public void Dispose()
    {
        if (_standbyDirectory is not null) _cluster.StopServer(_standbyDirectory);
        _ps.Dispose();
    }
}
