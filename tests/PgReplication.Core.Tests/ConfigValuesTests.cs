using PgReplication.Core.Config;

namespace PgReplication.Core.Tests;

public sealed class ConfigValuesTests
{
    [Theory]
    [InlineData("1GB", "MB", 1024L)]
    [InlineData("512MB", "MB", 512L)]
    [InlineData("512", "MB", 512L)]
    [InlineData("-1", "MB", -1L)]
    [InlineData("2048", "8kB", 2048L)]
    [InlineData("16MB", "8kB", 2048L)]
    [InlineData("10", null, 10L)]
    [InlineData("1TB", "MB", 1048576L)]
    public void Sizes_read_in_the_units_pg_settings_reports(string text, string? unit, long expected)
    {
        Assert.Equal(expected, ConfigValues.ToSettingUnits(text, unit));
    }

    [Theory]
    [InlineData("lots")]
    [InlineData("1XB")]
    public void Sizes_that_do_not_parse_are_null(string text) => Assert.Null(ConfigValues.ToSettingUnits(text, "MB"));

    [Theory]
    [InlineData("on", true)] [InlineData("TRUE", true)] [InlineData("1", true)] [InlineData("yes", true)]
    [InlineData("off", false)] [InlineData("0", false)] [InlineData("false", false)] [InlineData("maybe", null)]
    public void Booleans_read_as_the_server_reads_them(string text, bool? expected) => Assert.Equal(expected, ConfigValues.ParseBool(text));

    [Theory]
    [InlineData("a\nb")] [InlineData("a\rb")] [InlineData("a\0b")]
    public void Line_breaks_and_NUL_are_refused_with_the_value_named(string value)
    {
        var ex = Assert.Throws<ArgumentException>(() => ConfigValues.EnsureSafe(value, "thing"));
        Assert.Contains("thing", ex.Message);
        Assert.Contains("a\\x", ex.Message);
    }

    [Theory]
    [InlineData("wal_level", true)] [InlineData("pg_stat_statements.max", true)]
    [InlineData("wal_level; DROP", false)] [InlineData("Wal_Level", false)] [InlineData("", false)]
    public void Setting_names_are_checked(string name, bool ok)
    {
        if (ok) ConfigValues.EnsureSettingName(name);
        else Assert.Throws<ArgumentException>(() => ConfigValues.EnsureSettingName(name));
    }

    [Theory]
    [InlineData("*", "10.0.0.1", null)]
    [InlineData("localhost", "127.0.0.1", null)]
    [InlineData("localhost", "10.0.0.1", "localhost,10.0.0.1")]
    [InlineData("127.0.0.1", "10.0.0.1", "127.0.0.1,10.0.0.1")]
    [InlineData("0.0.0.0", "10.0.0.1", null)]
    [InlineData("0.0.0.0", "fd00::1", "0.0.0.0,fd00::1")]
    [InlineData("::", "fd00::1", null)]
    [InlineData("", "10.0.0.1", "10.0.0.1")]
    [InlineData("10.0.0.1, 127.0.0.1", "10.0.0.1", null)]
    [InlineData("db1", "DB1", null)]
    public void Listen_addresses_keep_what_is_there_and_add_what_is_needed(string current, string needed, string? expected)
    {
        Assert.Equal(expected, ListenAddresses.WithAdded(current, new[] { needed }));
    }

    [Fact]
    public void Synchronous_standby_names_are_built_with_quoted_names()
    {
        Assert.Equal("FIRST 1 (\"db2\", \"db 3\")", SynchronousStandbyNames.Build(SynchronousMode.First, 1, new[] { "db2", "db 3" }));
        Assert.Equal("ANY 2 (\"a\"\"b\", \"c\")", SynchronousStandbyNames.Build(SynchronousMode.Any, 2, new[] { "a\"b", "c" }));
        Assert.Throws<ArgumentException>(() => SynchronousStandbyNames.Build(SynchronousMode.Any, 3, new[] { "a", "b" }));
        Assert.Throws<ArgumentException>(() => SynchronousStandbyNames.Build(SynchronousMode.Any, 1, new[] { "a\nb" }));
    }

    [Theory]
    [InlineData("FIRST 2 (\"db2\", db3, db4)", 2)]
    [InlineData("any 1 (db2, db3)", 1)]
    [InlineData("3 (a, b, c)", 3)]
    [InlineData("db2, db3", 1)]
    [InlineData("*", 1)]
    [InlineData("", 0)]
    [InlineData(null, 0)]
    public void The_required_count_of_synchronous_standbys_is_read_from_each_syntax(string? value, int expected)
    {
        Assert.Equal(expected, SynchronousStandbyNames.RequiredCount(value));
    }
}
