using PgReplication.Core.Sql;

namespace PgReplication.Core.Tests;

public class LsnTests
{
    [Theory]
    [InlineData("0/0", 0UL)]
    [InlineData("0/3000148", 0x3000148UL)]
    [InlineData("16/B374D848", 0x16B374D848UL)]
    [InlineData("FFFFFFFF/FFFFFFFF", ulong.MaxValue)]
    public void Parses_the_text_form(string text, ulong expected) => Assert.Equal(expected, Lsn.Parse(text));

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("3000148")]
    [InlineData("x/1")]
    public void Unknown_or_bad_text_is_null(string? text) => Assert.Null(Lsn.Parse(text));

    [Fact]
    public void Distance_is_bytes_ahead_and_never_negative()
    {
        Assert.Equal(0x100L, Lsn.Distance("0/3000248", "0/3000148"));
        Assert.Equal(0x1_0000_0000L, Lsn.Distance("1/0", "0/0"));
        Assert.Equal(0L, Lsn.Distance("0/1", "0/2"));
        Assert.Null(Lsn.Distance("0/1", null));
    }

    [Theory]
    // 16 MB segments: 256 a log; the timeline (first 8 digits) does not count.
    [InlineData("000000010000000000000003", 16L << 20, 3UL)]
    [InlineData("0000000200000001000000FF", 16L << 20, 0x1FFUL)]
    [InlineData("000000010000000100000003", 64L << 20, 67UL)]
    [InlineData("00000001000000000000003", 16L << 20, null)]
    [InlineData(null, 16L << 20, null)]
    public void Segment_numbers_of_wal_file_names(string? name, long segmentBytes, ulong? expected) =>
        Assert.Equal(expected, Lsn.SegmentOfFile(name, segmentBytes));

    [Fact]
    public void A_standby_needs_the_segment_of_its_replay_position()
    {
        Assert.Equal(3UL, Lsn.Segment(0x3000148UL, 16L << 20));
        // Replayed into segment 3, the primary's oldest is 12: removed.
        Assert.True(Operations.ReplicationCheck.WalRemoved("0/3000148", "00000001000000000000000C", 16L << 20));
        // Its own segment is still there, on another timeline too.
        Assert.False(Operations.ReplicationCheck.WalRemoved("0/C000148", "00000002000000000000000C", 16L << 20));
        Assert.False(Operations.ReplicationCheck.WalRemoved(null, "00000001000000000000000C", 16L << 20));
        Assert.False(Operations.ReplicationCheck.WalRemoved("0/3000148", null, 16L << 20));
    }
}
