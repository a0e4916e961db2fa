using Npgsql;
using PgReplication.Core.Model;
using PgReplication.Core.Sql;
using static PgReplication.Tests.ClusterHelpers;

namespace PgReplication.Tests;

public sealed class ReplicationUserTests : IClassFixture<LocalCluster>, IDisposable
{
    private readonly LocalCluster _cluster;
    private readonly ModuleRunspace _ps = new();

    public ReplicationUserTests(LocalCluster cluster) => _cluster = cluster;

    private const string Pipeline = "New-PgNode -Local -Port $port -Credential $cred | New-PgReplicationUser -Credential $rcred";

    private ModuleRunspace.Result Run(string role, string password, string extra = "") =>
        _ps.Invoke($"{Pipeline} {extra}", Vars(_cluster, ("rcred", PsCredential(role, password))));

    private (bool Super, bool Login, bool Replication, int Limit, string? Password) Role(string name)
    {
        using var session = PgSession.Open(AdminNode(_cluster));
        var row = session.Query("SELECT a.rolsuper, a.rolcanlogin, a.rolreplication, a.rolconnlimit, a.rolpassword FROM pg_catalog.pg_authid a WHERE a.rolname = @n", ("n", name)).Single();
        return (row.Get<bool>("rolsuper"), row.Get<bool>("rolcanlogin"), row.Get<bool>("rolreplication"), row.Get<int>("rolconnlimit"), row.Text("rolpassword"));
    }

    private void LogIn(string role, string password)
    {
        var builder = new NpgsqlConnectionStringBuilder
        {
            Host = "127.0.0.1", Port = _cluster.Port, Username = role, Password = password, Database = "postgres", Pooling = false,
        };
        using var connection = new NpgsqlConnection(builder.ConnectionString);
        connection.Open();
        using var cmd = new NpgsqlCommand("SELECT pg_catalog.current_user()", connection);
        Assert.Equal(role, cmd.ExecuteScalar());
    }

    [Fact]
    public void Creates_a_login_replication_role_with_a_SCRAM_password_and_passes_the_node_on()
    {
        var r = Run("repl_a", "Secret-a1", "-ConnectionLimit 5");
        Assert.Empty(r.Errors);
        var node = Assert.IsType<PgNode>(Assert.Single(r.Output).BaseObject);
        Assert.Equal("repl_a", node.ReplicationCredential!.UserName);
        Assert.Equal("Secret-a1", node.ReplicationCredential.Password);
        var role = Role("repl_a");
        Assert.False(role.Super);
        Assert.True(role.Login);
        Assert.True(role.Replication);
        Assert.Equal(5, role.Limit);
        Assert.StartsWith("SCRAM-SHA-256$4096:", role.Password);
        Assert.True(ScramVerifier.Matches(role.Password, "Secret-a1"));
        LogIn("repl_a", "Secret-a1");
    }

    [Fact]
    public void A_second_run_changes_nothing_and_says_so()
    {
        Assert.Empty(Run("repl_b", "Secret-b1").Errors);
        var before = Role("repl_b").Password;
        var r = _ps.Invoke($"{Pipeline} -Verbose 4>&1", Vars(_cluster, ("rcred", PsCredential("repl_b", "Secret-b1"))));
        Assert.Empty(r.Errors);
        Assert.Equal(before, Role("repl_b").Password);
        Assert.Contains(r.Output, o => o.BaseObject is System.Management.Automation.VerboseRecord v && v.Message.Contains("nothing changed"));
    }

    [Fact]
    public void Odd_names_and_passwords_work_and_match_what_PostgreSQL_itself_computes()
    {
        const string name = "rep 'l\" x";
        // Quotes, backslashes, $, and unicode that SASLprep changes (NFKC: the roman numeral becomes "IX", the
        // no-break space a space, the decomposed e-acute composed).
        const string password = "p'a\"s\\s$w{0}rd \u2168\u00A0cafe\u0301 \u00fc";
        var r = Run(name, password);
        Assert.Empty(r.Errors);
        var ours = Role(name).Password;
        Assert.True(ScramVerifier.Matches(ours, password));
        LogIn(name, password);

        // PostgreSQL's own verifier of the same password (it SASLpreps on the server) matches ours too.
        using (var session = PgSession.Open(AdminNode(_cluster)))
        {
            session.Execute("SET password_encryption = 'scram-sha-256'");
            session.Execute($"ALTER ROLE {SqlQuote.Identifier(name)} PASSWORD {SqlQuote.Literal(password)}");
        }
        var theirs = Role(name).Password;
        Assert.NotEqual(ours, theirs);
        Assert.True(ScramVerifier.Matches(theirs, password));
    }

    [Fact]
    public void The_password_and_verifier_stay_out_of_the_server_log_and_pg_stat_activity()
    {
        Execute(_cluster, "ALTER SYSTEM SET log_statement = 'all'");
        Execute(_cluster, "SELECT pg_catalog.pg_reload_conf()");
        try
        {
            Thread.Sleep(500);
            const string password = "Log-Secret-\u00e9$'\\";
            var r = _ps.Invoke($"{Pipeline} -Verbose -Debug 5>&1 4>&1",
                Vars(_cluster, ("rcred", PsCredential("repl_log", password)), ("DebugPreference", "Continue")));
            Assert.Empty(r.Errors);
            var verifier = Role("repl_log").Password!;
            var log = File.ReadAllText(Path.Combine(_cluster.Root, "server.log"));
            Assert.Contains("SET LOCAL log_statement", log); // statements were being logged
            Assert.DoesNotContain("SCRAM-SHA-256$", log);
            Assert.DoesNotContain("Log-Secret", log);
            var activity = string.Join("\n", Scalar<string>(_cluster,
                "SELECT pg_catalog.string_agg(a.query, E'\\n') FROM pg_catalog.pg_stat_activity a") ?? "");
            Assert.DoesNotContain("SCRAM-SHA-256$", activity);
            Assert.DoesNotContain("Log-Secret", activity);
            var output = string.Join("\n", r.Output.Select(o => o.ToString()));
            Assert.Contains("ROLE", output); // the debug stream was captured
            Assert.DoesNotContain("Log-Secret", output);
            Assert.DoesNotContain(verifier.Split('$')[2], output);
        }
        finally
        {
            Execute(_cluster, "ALTER SYSTEM RESET log_statement");
            Execute(_cluster, "SELECT pg_catalog.pg_reload_conf()");
        }
    }

    [Fact]
    public void An_existing_password_changes_only_with_Force()
    {
        Assert.Empty(Run("repl_c", "First-1").Errors);
        var warn = _ps.Invoke($"{Pipeline} 3>&1", Vars(_cluster, ("rcred", PsCredential("repl_c", "Second-2"))));
        Assert.Contains(warn.Output, o => o.BaseObject is System.Management.Automation.WarningRecord w && w.Message.Contains("left as is"));
        Assert.True(ScramVerifier.Matches(Role("repl_c").Password, "First-1"));

        Assert.Empty(Run("repl_c", "Second-2", "-Force").Errors);
        Assert.True(ScramVerifier.Matches(Role("repl_c").Password, "Second-2"));
        LogIn("repl_c", "Second-2");
    }

    [Fact]
    public void An_existing_role_is_brought_to_the_right_attributes()
    {
        Execute(_cluster, "CREATE ROLE repl_d NOLOGIN CREATEDB");
        Assert.Empty(Run("repl_d", "Secret-d1", "-Force").Errors);
        var role = Role("repl_d");
        Assert.True(role.Login);
        Assert.True(role.Replication);
        Assert.False(Scalar<bool>(_cluster, "SELECT r.rolcreatedb FROM pg_catalog.pg_roles r WHERE r.rolname = 'repl_d'"));
    }

    [Fact]
    public void A_superuser_role_is_refused_unless_Force()
    {
        Execute(_cluster, "CREATE ROLE repl_su SUPERUSER LOGIN");
        var r = Run("repl_su", "Secret-su");
        var error = Assert.Single(r.Errors);
        Assert.Contains("superuser", error.Exception.Message);
        Assert.Contains($"127.0.0.1:{_cluster.Port}", error.Exception.Message);
        Assert.Empty(r.Output);
        Assert.True(Role("repl_su").Super);

        Assert.Empty(Run("repl_su", "Secret-su", "-Force").Errors);
        Assert.False(Role("repl_su").Super);
    }

    [Fact]
    public void WhatIf_creates_nothing()
    {
        var r = Run("repl_whatif", "Secret-w", "-WhatIf");
        Assert.Empty(r.Errors);
        Assert.Empty(r.Output);
        Assert.Equal(0L, Scalar<long>(_cluster, "SELECT pg_catalog.count(*) FROM pg_catalog.pg_roles r WHERE r.rolname = 'repl_whatif'"));
    }

    [Fact]
    public void ComputerName_input_works_with_an_admin_credential()
    {
        var r = _ps.Invoke("New-PgReplicationUser -ComputerName \"127.0.0.1:$port\" -AdminCredential $cred -Credential $rcred",
            Vars(_cluster, ("rcred", PsCredential("repl_e", "Secret-e1"))));
        Assert.Empty(r.Errors);
        Assert.Equal(NodeRole.Primary, ((PgNode)r.Output.Single().BaseObject).Role);
        Assert.True(Role("repl_e").Replication);
    }

    public void Dispose() => _ps.Dispose();
}
