using PgReplication.Core.Config;
using PgReplication.Core.Sql;

namespace PgReplication.Core.Tests;

/// <summary>The decisions of failover that need no server: timeline forks, synchronous names, passfile look-ups.</summary>
public sealed class FailoverLogicTests
{
    // What PostgreSQL writes to pg_wal/00000003.history after two promotions.
    private const string History = "1\t0/3000158\tno recovery target specified\n\n2\t0/5A0000A0\tno recovery target specified\n";

    [Fact]
    public void A_history_file_gives_each_ancestor_and_its_switch_point()
    {
        var switches = TimelineHistory.Parse(History);
        Assert.Equal(new[] { new TimelineSwitch(1, 0x3000158), new TimelineSwitch(2, 0x5A0000A0) }, switches);
        Assert.Empty(TimelineHistory.Parse(null));
        Assert.Empty(TimelineHistory.Parse("# a comment\nnot a line\n"));
    }

    [Theory]
    [InlineData(3, 0x7000000UL, true)]    // same timeline
    [InlineData(2, 0x5A0000A0UL, true)]   // replayed exactly up to the fork
    [InlineData(2, 0x4000000UL, true)]    // behind the fork
    [InlineData(2, 0x5A0000A1UL, false)]  // one byte past the fork: diverged
    [InlineData(1, 0x3000158UL, true)]
    [InlineData(1, 0x3000160UL, false)]
    [InlineData(4, 0x1000000UL, false)]   // a timeline the primary never had
    public void A_standby_can_follow_unless_it_replayed_past_the_fork(int standbyTimeline, ulong replayed, bool expected) =>
        Assert.Equal(expected, TimelineHistory.CanFollow(standbyTimeline, replayed, 3, TimelineHistory.Parse(History)));

    [Theory]
    [InlineData(0x1000000UL, 1)]
    [InlineData(0x3000158UL, 1)]   // at the end of timeline 1: nothing of 2 replayed yet
    [InlineData(0x3000159UL, 2)]
    [InlineData(0x5A0000A0UL, 2)]
    [InlineData(0x60000000UL, 3)]   // past every switch: the newest timeline
    public void A_position_lies_on_the_timeline_that_ended_at_or_after_it(ulong position, int expected) =>
        Assert.Equal(expected, TimelineHistory.TimelineAt(TimelineHistory.Parse(History), 3, position));

    [Fact]
    public void History_file_names_are_eight_hex_digits() => Assert.Equal("0000000A.history", TimelineHistory.FileName(10));

    [Theory]
    [InlineData(0x3000158UL, "0/3000158")]
    [InlineData(0x16B374D848UL, "16/B374D848")]
    [InlineData(0UL, "0/0")]
    public void Lsns_format_as_pg_lsn_and_parse_back(ulong lsn, string text)
    {
        Assert.Equal(text, Lsn.Format(lsn));
        Assert.Equal(lsn, Lsn.Parse(text));
    }

    [Theory]
    [InlineData("", new string[0])]
    [InlineData("  ", new string[0])]
    [InlineData("FIRST 1 (\"db2\", \"db3\")", new[] { "db2", "db3" })]
    [InlineData("ANY 2 (a,b , c)", new[] { "a", "b", "c" })]
    [InlineData("2 (s1, s2)", new[] { "s1", "s2" })]
    [InlineData("s1, s2", new[] { "s1", "s2" })]
    [InlineData("*", new[] { "*" })]
    [InlineData("FIRST 1 (\"with \"\"quote\"\"\", \"x,y\")", new[] { "with \"quote\"", "x,y" })]
    public void Synchronous_standby_names_give_their_names(string value, string[] expected) =>
        Assert.Equal(expected, SynchronousStandbyNames.Parse(value));

    [Fact]
    public void A_standby_is_synchronous_when_listed_case_insensitively_or_by_star()
    {
        Assert.True(SynchronousStandbyNames.Lists(new[] { "DB2" }, "db2"));
        Assert.True(SynchronousStandbyNames.Lists(new[] { "*" }, "anything"));
        Assert.False(SynchronousStandbyNames.Lists(new[] { "db2" }, "db3"));
        Assert.False(SynchronousStandbyNames.Lists(Array.Empty<string>(), "db2"));
    }

    [Fact]
    public void The_passfile_gives_the_password_libpq_would_use()
    {
        var file = "# comment\n" +
                   PassFile.Line("10.0.0.1", 5432, "*", "repl", "first:pass\\word") + "\n" +
                   "*:5433:*:repl:wild\n" +
                   PassFile.Line("10.0.0.2", 5432, "*", "repl user", "pw2") + "\n";
        Assert.Equal("first:pass\\word", PassFile.Find(file, "10.0.0.1", 5432, "repl"));
        Assert.Equal("wild", PassFile.Find(file, "10.9.9.9", 5433, "repl"));
        Assert.Equal("pw2", PassFile.Find(file, "10.0.0.2", 5432, "repl user"));
        Assert.Null(PassFile.Find(file, "10.0.0.2", 5432, "repl"));
        Assert.Null(PassFile.Find("", "10.0.0.1", 5432, "repl"));
    }

    [Fact]
    public void The_entry_written_comes_before_a_wildcard_line_so_libpq_uses_it()
    {
        // A cluster built by hand: a stale wildcard line for the role, first in the file.
        var file = "*:*:*:replicator:stale\n10.0.0.9:5432:*:other:keep\n";
        Assert.False(PassFile.Contains(file, "10.0.0.2", 5432, "replicator", "fresh"));
        var updated = PassFile.Upsert(file, "10.0.0.2", 5432, "*", "replicator", "fresh");
        Assert.Equal("fresh", PassFile.Find(updated, "10.0.0.2", 5432, "replicator"));
        Assert.True(PassFile.Contains(updated, "10.0.0.2", 5432, "replicator", "fresh"));
        Assert.Equal("stale", PassFile.Find(updated, "10.0.0.3", 5432, "replicator")); // other lines kept
        Assert.Equal("keep", PassFile.Find(updated, "10.0.0.9", 5432, "other"));
        // Written again: still one entry for that key.
        var twice = PassFile.Upsert(updated, "10.0.0.2", 5432, "*", "replicator", "fresh");
        Assert.Single(twice.Split('\n'), l => l.StartsWith("10.0.0.2:", StringComparison.Ordinal));
    }

    [Fact]
    public void A_passfile_line_round_trips_through_find_with_any_password()
    {
        foreach (var password in new[] { "plain", "co:lon", "back\\slash", "ünï cødé $ 'q'", "trailing\\" })
            Assert.Equal(password, PassFile.Find(PassFile.Line("h", 1, "*", "u", password), "h", 1, "u"));
    }

    // Issue 22: a primary that crashed before its first checkpoint after a promotion must not be recovered as a standby
    // (its control file would keep the old timeline, and pg_rewind look for the fork there).
    [Theory]
    [InlineData("shut down", Operations.Rejoin.CleanShutdown.None)]
    [InlineData("shut down in recovery", Operations.Rejoin.CleanShutdown.None)]
    [InlineData("in production", Operations.Rejoin.CleanShutdown.CrashRecovery)]
    [InlineData("in crash recovery", Operations.Rejoin.CleanShutdown.CrashRecovery)]
    [InlineData("shutting down", Operations.Rejoin.CleanShutdown.CrashRecovery)]
    [InlineData("in archive recovery", Operations.Rejoin.CleanShutdown.AsStandby)]
    [InlineData(null, Operations.Rejoin.CleanShutdown.AsStandby)]
    public void A_crashed_primary_gets_crash_recovery_and_a_crashed_standby_recovery_as_a_standby(string? state, Operations.Rejoin.CleanShutdown expected) =>
        Assert.Equal(expected, Operations.Rejoin.CleanShutdownFor(state));
}
