using PgReplication.Core.Operations;
using Xunit;

namespace PgReplication.Core.Tests;

/// <summary>What -Method Parallel sends, keeps and removes, and how Invoke-PgBaseBackup picks its method (no host needed).</summary>
public sealed class ParallelCopyTests
{
    private static CopyEntry F(string path, long size, double at = 1000, int root = 0) => new(root, path, 'f', size, at);
    private const long Mib = 1 << 20;
    private static CopyEntry D(string path, int root = 0) => new(root, path, 'd', 4096, 1000);

    [Fact]
    public void Files_go_largest_first_to_the_least_loaded_stream_and_folders_to_the_first()
    {
        var source = new[] { D("base"), D("base/5"), F("base/5/1", 100 * Mib), F("base/5/2", 60 * Mib), F("base/5/3", 50 * Mib), F("base/5/4", 10 * Mib), F("PG_VERSION", 3) };
        var d = ParallelCopy.Decide(source, null, null, 2);
        Assert.Equal(2, d.Streams.Count);
        Assert.Equal(new[] { "base", "base/5", "base/5/1", "base/5/4", "PG_VERSION" }, d.Streams[0].Select(e => e.Path));
        Assert.Equal(new[] { "base/5/2", "base/5/3" }, d.Streams[1].Select(e => e.Path));
        Assert.Equal(5, d.SentFiles);
        Assert.Equal(220 * Mib + 3, d.SentBytes);
        Assert.Empty(d.Remove);
    }

    [Fact]
    public void A_small_copy_takes_one_stream_per_64_MiB()
    {
        Assert.Single(ParallelCopy.Decide(new[] { F("a", 10 * Mib), F("b", 10 * Mib) }, null, null, 4).Streams);
        Assert.Equal(2, ParallelCopy.Decide(new[] { F("a", 40 * Mib), F("b", 40 * Mib) }, null, null, 4).Streams.Count);
        Assert.Equal(4, ParallelCopy.Decide(Enumerable.Range(0, 9).Select(i => F($"f{i}", 100 * Mib)).ToArray(), null, null, 4).Streams.Count);
    }

    [Theory]
    [InlineData("postmaster.pid", true)]
    [InlineData("backup_label", true)]
    [InlineData("standby.signal", true)]
    [InlineData("pg_wal/000000010000000000000001", true)]
    [InlineData("pg_wal/archive_status/x.done", true)]
    [InlineData("pg_replslot/s/state", true)]
    [InlineData("base/5/pgsql_tmp/pgsql_tmp1.0", true)]
    [InlineData("global/pg_internal.init", true)]
    [InlineData("global/pg_control", true)]
    [InlineData(ParallelCopy.StateFile, true)]
    [InlineData("pg_wal", false)]
    [InlineData("pg_replslot", false)]
    [InlineData("global/1262", false)]
    [InlineData("postgresql.auto.conf", false)]
    [InlineData("pg_walx/1", false)]
    public void The_data_directory_is_copied_as_PostgreSQL_documents(string path, bool excluded) =>
        Assert.Equal(excluded, ParallelCopy.IsExcluded(F(path, 1)));

    [Fact]
    public void In_a_tablespace_only_temporary_files_are_left_out()
    {
        Assert.True(ParallelCopy.IsExcluded(F("PG_15_202209061/5/pgsql_tmp/t", 1, root: 1)));
        Assert.False(ParallelCopy.IsExcluded(F("backup_label", 1, root: 1)));
        Assert.False(ParallelCopy.IsExcluded(F("global/pg_control", 1, root: 1)));
    }

    [Fact]
    public void A_resumed_copy_keeps_only_files_unchanged_since_before_the_interrupted_run_began()
    {
        const double began = 5000;
        var source = new[]
        {
            F("base/5/kept", 8192, 4000.25),
            F("base/5/changed_after", 8192, 5200),       // modified on the primary after the copy read it
            F("base/5/same_second_as_start", 8192, 4999.5), // could have changed after the read in that second
            F("base/5/grew", 16384, 5300),               // grew after the run began: its mtime says so
            F("base/5/partial", 8192, 4000),             // tar was cut inside it: its mtime is the write's
            F("base/5/new", 8192, 4000),
        };
        var target = new[]
        {
            F("base/5/kept", 8192, 4000),                 // tar keeps whole seconds
            F("base/5/changed_after", 8192, 4000),
            F("base/5/same_second_as_start", 8192, 4999),
            F("base/5/grew", 8192, 4000),
            F("base/5/partial", 4096, 5010),
            F("base/5/dropped", 8192, 4000),
            F("pg_wal/000000010000000000000003", 16777216, 4000),
            F(ParallelCopy.StateFile, 40, 5000),
        };
        var d = ParallelCopy.Decide(source, target, began, 3);
        Assert.Equal(1, d.KeptFiles);
        // The partial file's first 4096 bytes stay; only its rest is sent.
        Assert.Equal(8192 + 4096, d.KeptBytes);
        Assert.Equal(("base/5/partial", 4096L), (d.Append.Single().File.Path, d.Append.Single().Offset));
        var sent = d.Streams.SelectMany(s => s).Select(e => e.Path).OrderBy(p => p).ToArray();
        Assert.Equal(new[] { "base/5/changed_after", "base/5/grew", "base/5/new", "base/5/same_second_as_start" }, sent);
        Assert.Equal(5, d.SentFiles);
        Assert.Equal(8192 * 3 + 16384 + 4096, d.SentBytes);
        Assert.Equal(new[] { "base/5/dropped", "pg_wal/000000010000000000000003" }, d.Remove.Select(e => e.Path));
    }

    [Fact]
    public void A_shorter_file_whose_source_changed_since_the_first_run_began_is_sent_whole()
    {
        const double began = 5000;
        var source = new[] { F("stamped_partial", 8192, 4000), F("changed", 8192, 5500), F("changed_just_before", 8192, 4999.5) };
        var target = new[] { F("stamped_partial", 4096, 4000), F("changed", 4096, 5100), F("changed_just_before", 4096, 5001) };
        var d = ParallelCopy.Decide(source, target, began, 1);
        Assert.Equal("stamped_partial", d.Append.Single().File.Path);
        Assert.Equal(new[] { "changed", "changed_just_before" }, d.Streams.Single().Select(e => e.Path).OrderBy(p => p));
    }

    [Fact]
    public void Without_a_trusted_start_nothing_on_the_target_is_kept()
    {
        var d = ParallelCopy.Decide(new[] { F("a", 1, 10) }, new[] { F("a", 1, 10) }, null, 1);
        Assert.Equal(0, d.KeptFiles);
        Assert.Single(d.Streams.Single());
    }

    [Fact]
    public void The_same_path_in_another_root_is_another_file()
    {
        var d = ParallelCopy.Decide(new[] { F("PG_15/5/1", 8, 10, root: 1) }, new[] { F("PG_15/5/1", 8, 10, root: 2) }, 5000, 1);
        Assert.Equal(0, d.KeptFiles);
        Assert.Single(d.Remove);
    }

    [Fact]
    public void The_listing_is_read_with_its_start_and_roots()
    {
        var (now, entries) = ParallelCopy.ParseListing("now 1765000000.123456789\0root 0\0d 4096 1765.5 base\0f 8192 1764000000.9 base/5/1 with space\0root 1\0l 12 17.0 link\0");
        Assert.Equal(1765000000.123456789, now, 6);
        Assert.Equal(3, entries.Count);
        Assert.Equal(new CopyEntry(0, "base/5/1 with space", 'f', 8192, 1764000000.9), entries[1]);
        Assert.Equal(1, entries[2].Root);
        Assert.Equal(1764000000, entries[1].ModifiedSecond);
        Assert.Throws<FormatException>(() => ParallelCopy.ParseListing("root 0\0"));
    }

    [Theory]
    [InlineData("-rw------- postgres/postgres 8192 2026-12-05 21:27 base/5/1259", "base/5/1259", 8192L)]
    [InlineData("-rw------- postgres/postgres 3 2026-12-05 21:27 a name with  spaces", "a name with  spaces", 3L)]
    [InlineData("drwx------ postgres/postgres 0 2026-12-05 21:27 base/5/", "base/5", 0L)]
    [InlineData("lrwxrwxrwx postgres/postgres 0 2026-12-05 21:27 pg_tblspc/16384 -> /srv/ts", "pg_tblspc/16384", 0L)]
    public void A_line_tar_prints_gives_the_path_and_size_sent(string line, string path, long size) =>
        Assert.Equal((path, size), ParallelCopy.ParseSentLine(line));

    [Theory]
    [InlineData("tar: base/5/1: file changed as we read it")]
    [InlineData("pgreplication-tar-exit=1")]
    [InlineData("")]
    public void Other_lines_are_not_taken_for_files(string line) => Assert.Null(ParallelCopy.ParseSentLine(line));

    [Fact]
    public void A_file_missing_or_shorter_on_the_standby_is_found()
    {
        var sent = new Dictionary<(int, string), long> { [(0, "a")] = 10, [(0, "b")] = 10, [(1, "c")] = 5, [(0, "dir/")] = 0 };
        var landed = new Dictionary<(int, string), long> { [(0, "a")] = 10, [(0, "b")] = 4, [(0, "dir/")] = 4096 };
        Assert.Equal(new[] { "b", "tablespace 1: c" }, ParallelCopy.MissingOrShort(sent, landed));
    }

    [Fact]
    public void The_WAL_of_the_backup_is_its_segments_from_start_to_stop_on_its_timeline()
    {
        var names = new[] { "000000010000000000000002", "000000010000000000000003", "000000020000000000000003", "000000010000000000000004",
            "000000010000000000000005", "00000002.history", "archive_status", "000000010000000000000003.partial" };
        Assert.Equal(new[] { "000000010000000000000003", "000000010000000000000004" },
            ParallelCopy.WalSegmentsBetween(names, "000000010000000000000003", "000000010000000000000004"));
    }

    [Fact]
    public void The_state_of_an_unfinished_copy_is_read_or_ignored()
    {
        Assert.Equal(("7312", "b00t", 1765.25), ParallelCopy.ParseState("7312 b00t 1765.250000000\n"));
        Assert.Null(ParallelCopy.ParseState("garbage"));
        Assert.Null(ParallelCopy.ParseState(""));
    }

    [Theory]
    [InlineData(BaseBackupMethod.Rsync, null, 0L, true, false, BaseBackupMethod.Rsync)]
    [InlineData(null, null, 1L << 30, true, false, BaseBackupMethod.PgBaseBackup)]
    [InlineData(null, null, 100L << 30, true, false, BaseBackupMethod.Parallel)]
    [InlineData(null, null, 100L << 30, false, false, BaseBackupMethod.PgBaseBackup)]
    [InlineData(null, null, 100L << 30, true, true, BaseBackupMethod.PgBaseBackup)]
    [InlineData(null, "pg_basebackup is missing", 1L << 20, true, false, BaseBackupMethod.Parallel)]
    [InlineData(null, "pg_basebackup is missing", 1L << 20, false, false, BaseBackupMethod.PgBaseBackup)]
    public void The_default_method_is_the_one_that_wins_for_the_copy_at_hand(BaseBackupMethod? asked, string? toolProblem, long bytes, bool hostToHost,
        bool verifyChecksums, BaseBackupMethod expected)
    {
        var (method, reason) = BaseBackup.ChooseMethod(asked, toolProblem, bytes, hostToHost, verifyChecksums);
        Assert.Equal(expected, method);
        Assert.False(string.IsNullOrWhiteSpace(reason));
    }
}
