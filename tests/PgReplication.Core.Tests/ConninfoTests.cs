using PgReplication.Core.Model;
using PgReplication.Core.Operations;
using PgReplication.Core.Sql;

namespace PgReplication.Core.Tests;

public class ConninfoTests
{
    [Fact]
    public void Parses_plain_and_quoted_values()
    {
        var v = Conninfo.Parse("user=repl password=******** host=10.0.0.1 port=5433 application_name='my app' sslmode=prefer");
        Assert.Equal("repl", v["user"]);
        Assert.Equal("10.0.0.1", v["host"]);
        Assert.Equal("5433", v["port"]);
        Assert.Equal("my app", v["application_name"]);
    }

    [Theory]
    [InlineData("it's", @"'it\'s'")]
    [InlineData(@"a\b", @"'a\\b'")]
    [InlineData("with space", "'with space'")]
    public void Values_are_quoted_so_that_libpq_reads_them_back(string value, string quoted)
    {
        Assert.Equal(quoted, Conninfo.QuoteValue(value));
        Assert.Equal(value, Conninfo.Parse("k=" + quoted)["k"]);
    }

    [Fact]
    public void A_value_with_a_newline_is_refused() =>
        Assert.Throws<ArgumentException>(() => Conninfo.QuoteValue("a\nb"));

    [Theory]
    [InlineData("host=10.0.0.1 port=5433 user=r", "10.0.0.1:5433")]
    [InlineData("hostaddr=10.0.0.2 user=r", "10.0.0.2")]
    [InlineData("user=r", null)]
    [InlineData("", null)]
    public void Upstream_comes_from_the_receivers_conninfo(string conninfo, string? expected) =>
        Assert.Equal(expected, NodeDiscovery.UpstreamFromConninfo(conninfo));

    [Theory]
    [InlineData("/etc/postgresql/15/main/postgresql.conf", 15, ServerControl.PgCtlCluster, "main")]
    [InlineData("/etc/postgresql/15/replica-b/postgresql.conf", 15, ServerControl.PgCtlCluster, "replica-b")]
    [InlineData("/var/lib/postgresql/data/postgresql.conf", 15, ServerControl.PgCtl, null)]
    [InlineData("/etc/postgresql/14/main/postgresql.conf", 15, ServerControl.PgCtl, null)]
    public void Debian_layout_is_recognised_from_the_config_file(string path, int major, ServerControl control, string? cluster)
    {
        var (c, name) = NodeDiscovery.ControlFromConfigFile(path, major);
        Assert.Equal(control, c);
        Assert.Equal(cluster, name);
    }
}
