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
}
