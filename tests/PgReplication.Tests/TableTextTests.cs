using Xunit;

namespace PgReplication.Tests;

/// <summary>The text of wrapping table columns: broken between words, never wider than the column.</summary>
public sealed class TableTextTests
{
    [Theory]
    [InlineData("short", 10, "short")]
    [InlineData("host='a,b' port='1,2' dbname='x'", 16, "host='a,b'\nport='1,2'\ndbname='x'")]
    [InlineData("connected,streaming,slot healthy", 22, "connected,streaming,\nslot healthy")]
    [InlineData("/var/lib/postgresql/15/main", 20, "/var/lib/postgresql/\n15/main")]
    [InlineData("abcdefghijklmnop", 6, "abcdef\nghijkl\nmnop")]
    public void Text_is_broken_at_spaces_and_separators_within_the_width(string text, int width, string expected)
    {
        var wrapped = TableText.Wrap(text, width);
        Assert.Equal(expected, wrapped);
        Assert.All(wrapped!.Split('\n'), line => Assert.True(line.Length <= width, line));
    }

    [Fact]
    public void Null_stays_null() => Assert.Null(TableText.Wrap(null, 10));
}
