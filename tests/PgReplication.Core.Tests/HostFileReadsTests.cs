using PgReplication.Core.Hosts;
using Xunit;

namespace PgReplication.Core.Tests;

public class HostFileReadsTests
{
    [Fact]
    public void Prefetch_reads_several_files_in_one_command_exactly_as_single_reads_do()
    {
        var dir = Directory.CreateTempSubdirectory("pgr-reads-");
        try
        {
            var noNewline = Path.Combine(dir.FullName, "a.conf");
            File.WriteAllText(noNewline, "port = 5432\n\nprimary_conninfo = 'host=x'");
            var trailing = Path.Combine(dir.FullName, "b.conf");
            File.WriteAllText(trailing, "line\n\n\n");
            var empty = Path.Combine(dir.FullName, "standby.signal");
            File.WriteAllText(empty, "");
            File.SetUnixFileMode(trailing, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            var missing = Path.Combine(dir.FullName, "missing");
            var directory = dir.CreateSubdirectory("sub").FullName;

            using var shell = new CountingShell(new LocalShell("here"));
            var files = new HostFileReads(shell, Environment.UserName);
            files.Prefetch(new[] { noNewline, trailing, empty, missing, directory, HostFileReads.InHome(".pgr-none") });
            Assert.Equal(1, shell.Commands);
            Assert.Equal(HostFiles.HomeOf(shell.Inner, Environment.UserName), files.Home);
            Assert.False(files.Exists(Path.Combine(files.Home, ".pgr-none")));

            Assert.Equal(HostFiles.ReadTextAndMode(shell.Inner, noNewline, Environment.UserName), files.ReadTextAndMode(noNewline));
            Assert.Equal(("line\n\n\n", (int?)Convert.ToInt32("600", 8)), files.ReadTextAndMode(trailing));
            Assert.Equal("", files.ReadTextOrEmpty(empty));
            Assert.True(files.Exists(empty));
            Assert.Equal(("", (int?)null), files.ReadTextAndMode(missing));
            Assert.False(files.Exists(missing));
            Assert.True(files.Exists(directory));
            Assert.Equal(1, shell.Commands);
        }
        finally { dir.Delete(recursive: true); }
    }

    [Fact]
    public void A_path_not_prefetched_is_read_on_its_own_once()
    {
        var file = Path.GetTempFileName();
        try
        {
            File.WriteAllText(file, "x = 1\n");
            using var shell = new CountingShell(new LocalShell("here"));
            var files = new HostFileReads(shell, Environment.UserName);
            Assert.Equal("x = 1\n", files.ReadTextOrEmpty(file));
            Assert.Equal("x = 1\n", files.ReadTextOrEmpty(file));
            Assert.Equal(1, shell.Commands);
        }
        finally { File.Delete(file); }
    }

    private sealed class CountingShell(IHostShell inner) : IHostShell
    {
        public IHostShell Inner => inner;
        public int Commands { get; private set; }
        public string HostName => inner.HostName;
        public string CurrentUser => inner.CurrentUser;
        public string? HostKeyFingerprint => inner.HostKeyFingerprint;
        public CommandResult Run(HostCommand command) { Commands++; return inner.Run(command); }
        public void Dispose() => inner.Dispose();
    }
}
