using Npgsql;
using PgReplication.Core.Model;
using PgReplication.Core.Sql;

namespace PgReplication.Core.Tests;

public class ConnectionStringsTests
{
    private static readonly PgNode[] Two = { new("db1"), new("db2", 5433) };
    private static readonly ConnectionStringSettings App = new() { Database = "app", UserName = "app" };

    private static string Build(ConnectionStringFormat format, ConnectionStringSettings settings, params PgNode[] nodes) =>
        ConnectionStrings.Build(format, nodes.Length == 0 ? Two : nodes, settings).ConnectionString;

    [Fact]
    public void Libpq_lists_hosts_and_ports_by_position() =>
        Assert.Equal("host='db1,db2' port='5432,5433' dbname='app' user='app' connect_timeout='5' target_session_attrs='read-write'",
            Build(ConnectionStringFormat.Libpq, App));

    [Fact]
    public void Npgsql_puts_each_port_beside_its_host() =>
        Assert.Equal("Host=db1:5432,db2:5433;Database=app;Username=app;Timeout=5;Target Session Attributes=read-write",
            Build(ConnectionStringFormat.Npgsql, App));

    [Fact]
    public void Jdbc_is_a_url_with_the_hosts_in_its_authority() =>
        Assert.Equal("jdbc:postgresql://db1:5432,db2:5433/app?user=app&connectTimeout=5&targetServerType=primary",
            Build(ConnectionStringFormat.Jdbc, App));

    [Fact]
    public void The_result_carries_the_hosts_and_prints_as_the_string()
    {
        var r = ConnectionStrings.Build(ConnectionStringFormat.Libpq, Two, App);
        Assert.Equal(new[] { "db1:5432", "db2:5433" }, r.Hosts);
        Assert.Equal(TargetSessionAttribute.ReadWrite, r.TargetSessionAttribute);
        Assert.Equal(r.ConnectionString, r.ToString());
    }

    [Theory]
    [InlineData(TargetSessionAttribute.ReadWrite, "read-write", "primary")]
    [InlineData(TargetSessionAttribute.Primary, "primary", "primary")]
    [InlineData(TargetSessionAttribute.Standby, "standby", "secondary")]
    [InlineData(TargetSessionAttribute.PreferStandby, "prefer-standby", "preferSecondary")]
    [InlineData(TargetSessionAttribute.Any, "any", "any")]
    public void Each_target_is_spelled_as_each_client_reads_it(TargetSessionAttribute target, string libpq, string jdbc)
    {
        var s = App with { Target = target };
        Assert.Equal(libpq, Conninfo.Parse(Build(ConnectionStringFormat.Libpq, s))["target_session_attrs"]);
        // Npgsql's own parser accepts it (it refuses "ReadWrite" or "PreferStandby").
        Assert.Equal(libpq, new NpgsqlConnectionStringBuilder(Build(ConnectionStringFormat.Npgsql, s)).TargetSessionAttributes);
        Assert.EndsWith("&targetServerType=" + jdbc, Build(ConnectionStringFormat.Jdbc, s));
    }

    [Theory]
    [InlineData("my db")]
    [InlineData("it's")]
    [InlineData(@"back\slash")]
    [InlineData(@"\'both\\")]
    [InlineData("Ünïcødé-数据库")]
    public void Libpq_values_are_quoted_so_that_libpq_reads_them_back(string value)
    {
        var text = Build(ConnectionStringFormat.Libpq, new() { Database = value, UserName = value, Password = value });
        var parsed = Conninfo.Parse(text);
        Assert.Equal(value, parsed["dbname"]);
        Assert.Equal(value, parsed["user"]);
        Assert.Equal(value, parsed["password"]);
        Assert.Equal("db1,db2", parsed["host"]);
    }

    [Fact]
    public void Npgsql_values_with_separators_are_quoted_by_its_builder()
    {
        var text = Build(ConnectionStringFormat.Npgsql, new() { Database = "a;b=c", UserName = "o'neil", Password = "p\"w;" });
        var parsed = new NpgsqlConnectionStringBuilder(text);
        Assert.Equal("a;b=c", parsed.Database);
        Assert.Equal("o'neil", parsed.Username);
        Assert.Equal("p\"w;", parsed.Password);
    }

    [Fact]
    public void IPv6_addresses_are_bracketed_in_jdbc_and_npgsql_and_bare_in_libpq()
    {
        var nodes = new PgNode[] { new("::1", 5433), new("2001:db8::5") };
        var jdbc = ConnectionStrings.Build(ConnectionStringFormat.Jdbc, nodes, App);
        Assert.StartsWith("jdbc:postgresql://[::1]:5433,[2001:db8::5]:5432/app?", jdbc.ConnectionString);
        Assert.Equal(new[] { "[::1]:5433", "[2001:db8::5]:5432" }, jdbc.Hosts);
        Assert.StartsWith("Host=[::1]:5433,[2001:db8::5]:5432;", Build(ConnectionStringFormat.Npgsql, App, nodes));
        Assert.Equal("::1,2001:db8::5", Conninfo.Parse(Build(ConnectionStringFormat.Libpq, App, nodes))["host"]);
    }

    [Fact]
    public void Jdbc_values_are_url_encoded() =>
        Assert.Equal("jdbc:postgresql://db1:5432,db2:5433/my%20db%2F%C3%A9?user=a%26b%3Dc&password=p%2Bw%25&connectTimeout=5&targetServerType=primary",
            Build(ConnectionStringFormat.Jdbc, new() { Database = "my db/é", UserName = "a&b=c", Password = "p+w%" }));

    [Theory]
    [InlineData(ConnectionStringFormat.Libpq, "password='S3cret'")]
    [InlineData(ConnectionStringFormat.Npgsql, ";Password=S3cret;")]
    [InlineData(ConnectionStringFormat.Jdbc, "&password=S3cret&")]
    public void The_password_is_there_only_when_given(ConnectionStringFormat format, string expected)
    {
        Assert.DoesNotContain("password", Build(format, App), StringComparison.OrdinalIgnoreCase);
        Assert.Contains(expected, Build(format, App with { Password = "S3cret" }));
    }

    [Fact]
    public void Without_a_user_name_the_user_is_left_to_the_client() =>
        Assert.DoesNotContain("user", Build(ConnectionStringFormat.Libpq, new()));

    [Theory]
    [InlineData("app\ndb", null, "database name 'app\\x0adb'")]
    [InlineData("app", "us\rer", "user name 'us\\x0der'")]
    [InlineData("a\0b", null, "database name 'a\\x00b'")]
    public void Line_breaks_and_NUL_are_refused_naming_the_value(string database, string? user, string named)
    {
        foreach (var format in Enum.GetValues<ConnectionStringFormat>())
        {
            var ex = Assert.Throws<ArgumentException>(() => Build(format, new() { Database = database, UserName = user }));
            Assert.Contains(named, ex.Message);
        }
    }

    [Fact]
    public void A_bad_computer_name_is_refused_naming_it()
    {
        var ex = Assert.Throws<ArgumentException>(() => Build(ConnectionStringFormat.Libpq, App, new PgNode("db1\nx")));
        Assert.Contains("computer name 'db1\\x0ax'", ex.Message);
        ex = Assert.Throws<ArgumentException>(() => Build(ConnectionStringFormat.Libpq, App, new PgNode("db1,db2")));
        Assert.Contains("'db1,db2'", ex.Message);
    }

    [Fact]
    public void A_bad_password_is_refused_without_showing_it()
    {
        var ex = Assert.Throws<ArgumentException>(() => Build(ConnectionStringFormat.Npgsql, App with { Password = "Secret\n1" }));
        Assert.Contains("password", ex.Message);
        Assert.DoesNotContain("Secret", ex.Message);
    }

    [Fact]
    public void At_least_one_node_is_needed() =>
        Assert.Throws<ArgumentException>(() => ConnectionStrings.Build(ConnectionStringFormat.Libpq, Array.Empty<PgNode>(), App));

    [Fact]
    public void A_connect_timeout_of_zero_is_left_to_the_client()
    {
        var none = App with { ConnectTimeoutSeconds = 0 };
        Assert.DoesNotContain("connect_timeout", Build(ConnectionStringFormat.Libpq, none));
        Assert.DoesNotContain("Timeout", Build(ConnectionStringFormat.Npgsql, none));
        Assert.DoesNotContain("connectTimeout", Build(ConnectionStringFormat.Jdbc, none));
        Assert.Contains("connect_timeout='30'", Build(ConnectionStringFormat.Libpq, App with { ConnectTimeoutSeconds = 30 }));
    }
}
