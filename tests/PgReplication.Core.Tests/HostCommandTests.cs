using System.Text;
using PgReplication.Core.Hosts;

namespace PgReplication.Core.Tests;

public class HostCommandTests
{
    [Fact]
    public void Root_runs_as_another_user_through_runuser()
    {
        var cmd = new HostCommand("pg_ctl", "-D", "/data", "start") { RunAs = "postgres" };
        Assert.Equal(new[] { "runuser", "-u", "postgres", "--", "pg_ctl", "-D", "/data", "start" }, cmd.EffectiveArgv("root"));
    }

    [Fact]
    public void Others_use_sudo_that_never_prompts()
    {
        var cmd = new HostCommand("id") { RunAs = "postgres" };
        Assert.Equal(new[] { "sudo", "-n", "-u", "postgres", "--", "id" }, cmd.EffectiveArgv("admin"));
        Assert.Equal(new[] { "id" }, cmd.EffectiveArgv("postgres"));
    }

    [Fact]
    public void Local_shell_reports_exit_code_and_stderr_naming_the_host()
    {
        using var shell = new LocalShell("here");
        var r = shell.Run(new HostCommand("sh", "-c", "echo out; echo err >&2; exit 3"));
        Assert.Equal(3, r.ExitCode);
        Assert.Equal("out\n", r.StandardOutput);
        Assert.Equal("err\n", r.StandardError);
        var ex = Assert.Throws<HostCommandException>(() => r.EnsureSuccess());
        Assert.Contains("here", ex.Message);
        Assert.Contains("err", ex.Message);
        Assert.Contains("code 3", ex.Message);
    }

    [Fact]
    public void A_server_that_does_not_start_is_reported_with_the_end_of_its_log()
    {
        // A stand-in pg_ctl: it writes the reason into its -l log and says only "Examine the log output", as pg_ctl does.
        var bin = Directory.CreateTempSubdirectory("pgrepl-bin-");
        var data = Directory.CreateTempSubdirectory("pgrepl-data-");
        try
        {
            var pgCtl = Path.Combine(bin.FullName, "pg_ctl");
            File.WriteAllText(pgCtl, """
                #!/bin/sh
                if [ "$1" = --version ]; then echo 'pg_ctl (PostgreSQL) 15.18'; exit 0; fi
                while [ $# -gt 1 ]; do if [ "$1" = -l ]; then printf 'LOG:  starting\nFATAL:  could not bind IPv4 address "127.0.0.1": Address in use\n' > "$2"; fi; shift; done
                echo 'pg_ctl: could not start server' >&2; echo 'Examine the log output.' >&2; exit 1
                """);
            File.SetUnixFileMode(pgCtl, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            var node = new PgReplication.Core.Model.PgNode("127.0.0.1")
            {
                Name = "db9", DataDirectory = data.FullName, BinDirectory = bin.FullName, ServerVersion = new Version(15, 18), OsUser = Environment.UserName,
            };
            using var shell = new LocalShell("db9host");
            var ex = Assert.Throws<HostCommandException>(() => PgReplication.Core.Operations.ServerController.Start(node, shell, NullOperationLog.Instance, TimeSpan.FromSeconds(5)));
            Assert.Contains("could not start server", ex.Message);
            Assert.Contains("Address in use", ex.Message);
            Assert.Contains("pg_ctl.log", ex.Message);
            Assert.NotNull(ex.Result);
        }
        finally { bin.Delete(true); data.Delete(true); }
    }

    [Fact]
    public void Local_shell_ends_a_command_that_outlives_its_timeout()
    {
        using var shell = new LocalShell();
        var r = shell.Run(new HostCommand("sleep", "30") { Timeout = TimeSpan.FromMilliseconds(300) });
        Assert.True(r.TimedOut);
        Assert.False(r.Succeeded);
        Assert.True(r.Duration < TimeSpan.FromSeconds(10));
        Assert.Contains("timeout", r.Describe());
    }

    [Fact]
    public void Standard_input_carries_bytes_and_lines_arrive_as_they_come()
    {
        using var shell = new LocalShell();
        var lines = new List<string>();
        var r = shell.Run(new HostCommand("sh", "-c", "cat; printf '1/3\\r2/3\\r3/3\\n' >&2")
        {
            StandardInput = Encoding.UTF8.GetBytes("sécret\n"),
            OnErrorLine = lines.Add,
        });
        Assert.Equal("sécret\n", r.StandardOutput);
        Assert.Equal(new[] { "1/3", "2/3", "3/3" }, lines);
    }

    [Fact]
    public void Files_are_written_atomically_with_their_mode_and_the_old_copy_kept()
    {
        using var shell = new LocalShell();
        var dir = Directory.CreateTempSubdirectory("pgrepl-files-");
        try
        {
            var path = Path.Combine(dir.FullName, "a b.conf");
            var user = Environment.UserName;
            HostFiles.Write(shell, path, Encoding.UTF8.GetBytes("one\n"), "0600", user, ".bak");
            HostFiles.Write(shell, path, Encoding.UTF8.GetBytes("two\n"), "0640", user, ".bak");
            Assert.Equal("two\n", HostFiles.ReadText(shell, path, user));
            Assert.Equal("one\n", File.ReadAllText(path + ".bak"));
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead, File.GetUnixFileMode(path));
            Assert.Equal(2, Directory.GetFiles(dir.FullName).Length); // no temporary file left
            Assert.True(HostFiles.Exists(shell, path, user));
            HostFiles.Remove(shell, path, user);
            Assert.False(HostFiles.Exists(shell, path, user));
        }
        finally { dir.Delete(true); }
    }
}
