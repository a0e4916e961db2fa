using System.Management.Automation;
using System.Security;
using Npgsql;
using PgReplication.Core.Hosts;
using PgReplication.Core.Model;
using PgReplication.Core.Sql;

namespace PgReplication.Tests;

/// <summary>Get-PgConnectionString, with real clients: the first node listed is down, the second is the live cluster.</summary>
public sealed class ConnectionStringTests : IClassFixture<LocalCluster>, IDisposable
{
    private const string Closed = "127.0.0.1:1"; // nothing listens on port 1
    private readonly LocalCluster _cluster;
    private readonly ModuleRunspace _ps = new();

    public ConnectionStringTests(LocalCluster cluster) => _cluster = cluster;

    /// <summary>Runs Get-PgConnectionString for the closed port and the cluster; returns the strings and the warnings.</summary>
    private (List<PgConnectionString> Strings, List<string> Warnings) Get(string arguments)
    {
        var password = new SecureString();
        foreach (var c in _cluster.Password) password.AppendChar(c);
        var r = _ps.Invoke($"Get-PgConnectionString '{Closed}', \"127.0.0.1:$port\" {arguments} 3>&1",
            new Dictionary<string, object?> { ["port"] = _cluster.Port, ["cred"] = new PSCredential(LocalCluster.AdminUser, password) });
        Assert.Empty(r.Errors);
        return (r.Output.Select(o => o.BaseObject).OfType<PgConnectionString>().ToList(),
            r.Output.Select(o => o.BaseObject).OfType<WarningRecord>().Select(w => w.Message).ToList());
    }

    [Fact]
    public void Psql_given_only_the_string_skips_the_dead_node_and_reaches_the_primary()
    {
        var (strings, warnings) = Get("-Credential $cred -IncludePassword");
        var libpq = Assert.Single(strings);
        Assert.Equal(new[] { Closed, $"127.0.0.1:{_cluster.Port}" }, libpq.Hosts);
        Assert.Contains("password", Assert.Single(warnings));

        // LocalShell gives psql a clean environment: no PGPASSWORD or PGHOST of ours helps it.
        var psql = new LocalShell().Run(new HostCommand("/usr/bin/psql", libpq.ConnectionString, "-XAtc", "select pg_is_in_recovery()")
        { Timeout = TimeSpan.FromSeconds(30) }).EnsureSuccess();
        Assert.Equal("f", psql.StandardOutput.Trim());
    }

    [Fact]
    public void Npgsql_given_only_the_string_skips_the_dead_node_and_reaches_the_primary()
    {
        var (strings, _) = Get("-Format Npgsql -Credential $cred -IncludePassword");
        using var connection = new NpgsqlConnection(Assert.Single(strings).ConnectionString);
        connection.Open();
        using var command = new NpgsqlCommand("select pg_is_in_recovery(), inet_server_port()", connection);
        using var reader = command.ExecuteReader();
        Assert.True(reader.Read());
        Assert.False(reader.GetBoolean(0));
        Assert.Equal(_cluster.Port, reader.GetInt32(1));
    }

    [Fact]
    public void Npgsql_for_one_node_opens_and_says_the_role_is_not_checked()
    {
        var password = new SecureString();
        foreach (var c in _cluster.Password) password.AppendChar(c);
        var r = _ps.Invoke("Get-PgConnectionString \"127.0.0.1:$port\" -Format Npgsql -Credential $cred -IncludePassword 3>&1",
            new Dictionary<string, object?> { ["port"] = _cluster.Port, ["cred"] = new PSCredential(LocalCluster.AdminUser, password) });
        Assert.Empty(r.Errors);
        var single = Assert.Single(r.Output.Select(o => o.BaseObject).OfType<PgConnectionString>());
        Assert.Equal(TargetSessionAttribute.Any, single.TargetSessionAttribute);
        Assert.Contains(r.Output.Select(o => o.BaseObject).OfType<WarningRecord>(), w => w.Message.Contains("ReadWrite is not checked"));
        using var connection = new NpgsqlConnection(single.ConnectionString);
        connection.Open();
        using var command = new NpgsqlCommand("select inet_server_port()", connection);
        Assert.Equal(_cluster.Port, (int)command.ExecuteScalar()!);
    }

    [Fact]
    public void Without_IncludePassword_there_is_no_password_and_no_warning()
    {
        var (strings, warnings) = Get("-Format All -Credential $cred");
        Assert.Empty(warnings);
        Assert.Equal(new[] { ConnectionStringFormat.Libpq, ConnectionStringFormat.Npgsql, ConnectionStringFormat.Jdbc }, strings.Select(s => s.Format));
        foreach (var s in strings)
        {
            Assert.DoesNotContain("password", s.ConnectionString, StringComparison.OrdinalIgnoreCase);
            Assert.DoesNotContain(_cluster.Password, s.ConnectionString);
        }
        Assert.Equal(LocalCluster.AdminUser, Conninfo.Parse(strings[0].ConnectionString)["user"]);
    }

    [Fact]
    public void Piped_nodes_make_one_string_with_the_user_of_their_credential()
    {
        var r = _ps.Invoke("New-PgNode -Local -Port $port -Credential $cred -NoConnect | Get-PgConnectionString -TargetSessionAttribute PreferStandby -Database app",
            new Dictionary<string, object?> { ["port"] = _cluster.Port, ["cred"] = new PSCredential("app_user", new SecureString()) });
        Assert.Empty(r.Errors);
        var values = Conninfo.Parse(((PgConnectionString)Assert.Single(r.Output).BaseObject).ConnectionString);
        Assert.Equal("app_user", values["user"]);
        Assert.Equal("app", values["dbname"]);
        Assert.Equal("prefer-standby", values["target_session_attrs"]);
    }

    [Fact]
    public void In_a_string_it_is_the_connection_string_and_the_table_shows_it()
    {
        var r = _ps.Invoke("\"$(Get-PgConnectionString 127.0.0.1:5432,127.0.0.1:5433 -UserName app)\"");
        Assert.Equal("host='127.0.0.1,127.0.0.1' port='5432,5433' dbname='postgres' user='app' connect_timeout='5' target_session_attrs='read-write'",
            Assert.Single(r.Output).ToString());

        r = _ps.Invoke("Get-PgConnectionString 127.0.0.1:5432 -Format Jdbc | Format-Table | Out-String -Width 120");
        var text = string.Concat(r.Output.Select(o => o.ToString()));
        foreach (var expected in new[] { "Format", "TargetSessionAttribute", "ConnectionString", "ReadWrite", "jdbc:postgresql://127.0.0.1:5432/postgres" })
            Assert.Contains(expected, text);
    }

    [Fact]
    public void IncludePassword_needs_a_credential_and_bad_values_are_argument_errors()
    {
        var r = _ps.Invoke("try { Get-PgConnectionString db1 -IncludePassword -UserName app } catch { $_.FullyQualifiedErrorId }");
        Assert.StartsWith("AmbiguousParameterSet", Assert.Single(r.Output).ToString());

        r = _ps.Invoke("try { Get-PgConnectionString db1 -Database \"a`nb\" } catch { $_ }");
        var error = Assert.IsType<ErrorRecord>(Assert.Single(r.Output).BaseObject);
        Assert.Equal("PgReplication.InvalidConnectionValue,PgReplication.Commands.GetPgConnectionStringCommand", error.FullyQualifiedErrorId);
        Assert.Contains("a\\x0ab", error.Exception.Message);
    }

    public void Dispose() => _ps.Dispose();
}
