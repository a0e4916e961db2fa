using PgReplication.Core.Model;

namespace PgReplication.Core.Tests;

public class NodeAddressTests
{
    [Theory]
    [InlineData("db1", "db1", null)]
    [InlineData("db1:5433", "db1", 5433)]
    [InlineData("10.1.2.3", "10.1.2.3", null)]
    [InlineData("10.1.2.3:6543", "10.1.2.3", 6543)]
    [InlineData("[::1]:5432", "::1", 5432)]
    [InlineData("[fe80::1]", "fe80::1", null)]
    [InlineData("fe80::1", "fe80::1", null)]
    [InlineData("  db1.example.net  ", "db1.example.net", null)]
    public void Parses_host_and_optional_port(string text, string host, int? port)
    {
        var a = NodeAddress.Parse(text);
        Assert.Equal(host, a.Host);
        Assert.Equal(port, a.Port);
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData("db1:", "port")]
    [InlineData("db1:0", "port")]
    [InlineData("db1:65536", "port")]
    [InlineData("db1:abc", "port")]
    [InlineData(":5432", "no host")]
    [InlineData("[::1", "']'")]
    [InlineData("db 1", "space")]
    [InlineData("db1\n", "control")]
    [InlineData("-oProxyCommand=id", "starts with '-'")]
    [InlineData("-p2222", "starts with '-'")]
    [InlineData("db1;id", "not a host name")]
    [InlineData("db$(id)", "not a host name")]
    [InlineData("db`id`", "not a host name")]
    [InlineData("user@db1", "not a host name")]
    public void Rejects_bad_input_with_a_message_naming_the_problem(string text, string expected)
    {
        Assert.False(NodeAddress.TryParse(text, out _, out var error));
        Assert.Contains(expected, error);
    }

    [Fact]
    public void Node_name_defaults_to_host_and_non_default_port()
    {
        Assert.Equal("db1", new PgNode("db1").Name);
        Assert.Equal("db1:5433", new PgNode("db1", 5433).Name);
    }

    [Theory]
    [InlineData("127.0.0.1", true)]
    [InlineData("localhost", true)]
    [InlineData("::1", true)]
    [InlineData("10.0.0.1", false)]
    [InlineData("db1", false)]
    public void Loopback_without_ssh_settings_is_local(string host, bool local)
    {
        var node = NodeFactory.Create(new NodeAddress(host, null), 5432, new NodeSettings());
        Assert.Equal(local ? HostAccess.Local : HostAccess.Ssh, node.Access);
        Assert.Equal(local, node.Ssh is null);
    }

    [Fact]
    public void Ssh_settings_make_a_loopback_node_remote()
    {
        var node = NodeFactory.Create(new NodeAddress("127.0.0.1", 5432), 5432,
            new NodeSettings { Ssh = new SshOptions { User = "admin", KeyPath = "/k" } });
        Assert.Equal(HostAccess.Ssh, node.Access);
        Assert.Equal("ssh admin@127.0.0.1:22", node.ReachedBy);
    }
}
