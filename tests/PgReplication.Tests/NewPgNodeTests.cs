using System.Management.Automation;
using System.Security;
using PgReplication.Core.Model;

namespace PgReplication.Tests;

public sealed class NewPgNodeTests : IClassFixture<LocalCluster>, IDisposable
{
    private readonly LocalCluster _cluster;
    private readonly ModuleRunspace _ps = new();

    public NewPgNodeTests(LocalCluster cluster) => _cluster = cluster;

    private PSCredential Credential()
    {
        var password = new SecureString();
        foreach (var c in _cluster.Password) password.AppendChar(c);
        return new PSCredential(LocalCluster.AdminUser, password);
    }

    [Fact]
    public void Discovers_a_local_primary_from_the_server_itself()
    {
        var r = _ps.Invoke("New-PgNode -Local -Port $port -Credential $cred",
            new Dictionary<string, object?> { ["port"] = _cluster.Port, ["cred"] = Credential() });
        Assert.Empty(r.Errors);
        var node = Assert.IsType<PgNode>(Assert.Single(r.Output).BaseObject);
        Assert.Equal(NodeRole.Primary, node.Role);
        Assert.Equal(15, node.ServerVersion!.Major);
        Assert.Equal(_cluster.DataDirectory, node.DataDirectory);
        Assert.Equal(Path.Combine(_cluster.DataDirectory, "postgresql.conf"), node.ConfigFile);
        Assert.Equal(Path.Combine(_cluster.DataDirectory, "pg_hba.conf"), node.HbaFile);
        Assert.Equal(ServerControl.PgCtl, node.Control);
        Assert.Equal(1, node.Timeline);
        Assert.False(node.IsInRecovery);
        Assert.NotNull(node.SystemIdentifier);
        Assert.Equal(HostAccess.Local, node.Access);
        Assert.Equal($"127.0.0.1:{_cluster.Port}", node.Name);
    }

    [Fact]
    public void The_system_identifier_matches_pg_controldata()
    {
        var r = _ps.Invoke("New-PgNode -Local -Port $port -Credential $cred",
            new Dictionary<string, object?> { ["port"] = _cluster.Port, ["cred"] = Credential() });
        var node = (PgNode)r.Output[0].BaseObject;
        var shell = new Core.Hosts.LocalShell();
        var control = shell.Run(new Core.Hosts.HostCommand(Path.Combine(LocalCluster.BinDirectory, "pg_controldata"), _cluster.DataDirectory)
        { RunAs = Environment.UserName == "root" ? "postgres" : null }).EnsureSuccess().StandardOutput;
        Assert.Contains($"Database system identifier:           {node.SystemIdentifier}", control);
    }

    [Fact]
    public void An_unreachable_host_gives_an_error_naming_it_and_the_other_hosts_still_come_out()
    {
        var r = _ps.Invoke("'127.0.0.1:1', \"127.0.0.1:$port\" | New-PgNode -Credential $cred -ConnectTimeoutSeconds 3",
            new Dictionary<string, object?> { ["port"] = _cluster.Port, ["cred"] = Credential() });
        var error = Assert.Single(r.Errors);
        Assert.Equal("PgReplication.NodeUnreachable,PgReplication.Commands.NewPgNodeCommand", error.FullyQualifiedErrorId);
        Assert.Contains("127.0.0.1:1", error.Exception.Message);
        var nodes = r.Output.Select(o => (PgNode)o.BaseObject).ToList();
        Assert.Equal(2, nodes.Count);
        Assert.Equal(NodeRole.Unreachable, nodes[0].Role);
        Assert.Equal(NodeRole.Primary, nodes[1].Role);
    }

    [Fact]
    public void A_wrong_password_is_an_error_naming_the_host_and_never_the_password()
    {
        var bad = new SecureString();
        foreach (var c in "wrong-Secret-123") bad.AppendChar(c);
        var r = _ps.Invoke("New-PgNode -Local -Port $port -Credential $cred -Verbose -Debug 5>&1 4>&1",
            new Dictionary<string, object?> { ["port"] = _cluster.Port, ["cred"] = new PSCredential("postgres", bad), ["DebugPreference"] = "Continue" });
        var error = Assert.Single(r.Errors);
        Assert.Contains($"127.0.0.1:{_cluster.Port}", error.Exception.Message);
        var everything = string.Join("\n", r.Output.Select(o => o.ToString()).Concat(r.Errors.Select(e => e.ToString())));
        Assert.DoesNotContain("wrong-Secret-123", everything);
    }

    [Fact]
    public void NoConnect_gives_an_undiscovered_node_without_touching_the_network()
    {
        var r = _ps.Invoke("New-PgNode 'db9.invalid:6000' -NoConnect -SshUser admin");
        Assert.Empty(r.Errors);
        var node = (PgNode)r.Output.Single().BaseObject;
        Assert.Equal(NodeRole.Unknown, node.Role);
        Assert.Equal("db9.invalid", node.ComputerName);
        Assert.Equal(6000, node.Port);
        Assert.Equal(HostAccess.Ssh, node.Access);
        Assert.Equal("admin", node.Ssh!.User);
    }

    [Fact]
    public void Bad_computer_names_are_errors_naming_the_value()
    {
        var r = _ps.Invoke("New-PgNode 'db1:99999', 'db2' -NoConnect");
        var error = Assert.Single(r.Errors);
        Assert.Contains("99999", error.Exception.Message);
        Assert.Single(r.Output);
    }

    [Fact]
    public void The_table_view_shows_the_node_columns()
    {
        var r = _ps.Invoke("New-PgNode -Local -Port $port -Credential $cred | Format-Table | Out-String -Width 120",
            new Dictionary<string, object?> { ["port"] = _cluster.Port, ["cred"] = Credential() });
        var text = string.Concat(r.Output.Select(o => o.ToString()));
        foreach (var column in new[] { "Name", "ComputerName", "Port", "Role", "ServerVersion", "Timeline", "DataDirectory" })
            Assert.Contains(column, text);
        Assert.Contains("Primary", text);
        Assert.Contains(_cluster.DataDirectory, text);
    }

    public void Dispose() => _ps.Dispose();
}
