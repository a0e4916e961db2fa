using PgReplication.Core.Versions;

namespace PgReplication.Core.Tests;

public class VersionTests
{
    [Theory]
    [InlineData(150018, "15.18")]
    [InlineData(100023, "10.23")]
    [InlineData(180001, "18.1")]
    [InlineData(90624, "9.6.24")]
    [InlineData(90100, "9.1.0")]
    public void Server_version_num_becomes_a_version(int num, string expected) =>
        Assert.Equal(Version.Parse(expected), PgVersion.FromVersionNumber(num));

    [Theory]
    [InlineData("15.18", "15.18")]
    [InlineData("15.18 (Debian 15.18-0+deb12u1)", "15.18")]
    [InlineData("pg_basebackup (PostgreSQL) 16.2", "16.2")]
    [InlineData("postgres (PostgreSQL) 17beta1", "17.0")]
    [InlineData("9.6.24", "9.6.24")]
    [InlineData("PostgreSQL 12.4 on x86_64-pc-linux-gnu", "12.4")]
    public void Printed_versions_parse(string text, string expected) =>
        Assert.Equal(Version.Parse(expected), PgVersion.Parse(text));

    [Theory]
    [InlineData("")]
    [InlineData("no version here")]
    public void Text_without_a_version_is_refused(string text) =>
        Assert.False(PgVersion.TryParse(text, out _));

    [Theory]
    [InlineData(90624)]
    [InlineData(90100)]
    [InlineData(80422)]
    public void A_major_below_10_is_refused_naming_the_host_the_version_and_the_oldest_supported(int versionNumber)
    {
        var version = PgVersion.FromVersionNumber(versionNumber);
        var ex = Assert.Throws<NotSupportedException>(() => PgVersion.EnsureSupported(version, "db9"));
        Assert.Contains("db9", ex.Message);
        Assert.Contains($"PostgreSQL {version};", ex.Message);
        Assert.Contains($"supports {PgVersion.OldestSupportedMajor} and later", ex.Message);
    }

    [Theory]
    [InlineData(100000)]
    [InlineData(150018)]
    [InlineData(180004)]
    public void Every_major_from_10_is_accepted(int versionNumber) =>
        PgVersion.EnsureSupported(PgVersion.FromVersionNumber(versionNumber), "db");

    [Fact]
    public void The_oldest_supported_major_is_the_oldest_the_rules_know() =>
        Assert.Equal(VersionRules.OldestMajor, PgVersion.OldestSupportedMajor);
}
