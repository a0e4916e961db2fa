using System.Diagnostics;
using System.Text;
using PgReplication.Core.Hosts;
using PgReplication.Core.Sql;

namespace PgReplication.Core.Tests;

public class QuotingTests
{
    [Theory]
    [InlineData("replicator", "\"replicator\"")]
    [InlineData("Repl User", "\"Repl User\"")]
    [InlineData("o\"brien", "\"o\"\"brien\"")]
    [InlineData("rôle", "\"rôle\"")]
    public void Identifiers_are_double_quoted_with_quotes_doubled(string name, string expected) =>
        Assert.Equal(expected, SqlQuote.Identifier(name));

    [Fact]
    public void Identifiers_that_postgres_cannot_hold_are_refused()
    {
        Assert.Throws<ArgumentException>(() => SqlQuote.Identifier(""));
        Assert.Throws<ArgumentException>(() => SqlQuote.Identifier("a\0b"));
        Assert.Throws<ArgumentException>(() => SqlQuote.Identifier(new string('x', 64)));
    }

    [Theory]
    [InlineData("abc", "'abc'")]
    [InlineData("it's", "'it''s'")]
    [InlineData(@"back\slash", @"E'back\\slash'")]
    [InlineData(@"both ' and \", @"E'both '' and \\'")]
    public void Literals_are_quoted_as_quote_literal_does(string value, string expected) =>
        Assert.Equal(expected, SqlQuote.Literal(value));

    public static IEnumerable<object[]> HardArguments() => new[]
    {
        new object[] { "" }, new object[] { "plain" }, new object[] { "with space" }, new object[] { "it's" },
        new object[] { "\"double\"" }, new object[] { "$HOME and `id` and $(id)" }, new object[] { "line1\nline2" },
        new object[] { "tab\there" }, new object[] { "ünïcødé ✓ 日本" }, new object[] { "-n" }, new object[] { "*" },
        new object[] { "a\\b\\\\c" }, new object[] { "'''" }, new object[] { "; rm -rf /tmp/nothing" }, new object[] { "~root" },
    };

    [Theory]
    [MemberData(nameof(HardArguments))]
    public void A_quoted_argument_reaches_the_program_unchanged(string argument) =>
        Assert.Equal(argument, EchoThroughShell(argument));

    [Fact]
    public void Random_arguments_survive_the_shell_unchanged()
    {
        // Property: for any string without NUL, sh -c "printf %s <quoted>" prints the string back.
        var random = new Random(20261125);
        var alphabet = "ab '\"\\$`!*?[]{}();&|<>~#\n\t=%日ü✓".ToCharArray();
        var batch = new List<string>();
        for (var i = 0; i < 200; i++)
            batch.Add(new string(Enumerable.Range(0, random.Next(0, 24)).Select(_ => alphabet[random.Next(alphabet.Length)]).ToArray()));
        // One sh run for all of them: each printed, then a NUL as separator.
        var script = string.Join("; ", batch.Select(s => ShellQuote.Join("printf", new[] { "%s\\0", s })));
        var output = RunSh(script);
        Assert.Equal(batch, output.Split('\0')[..^1]);
    }

    [Fact]
    public void Nul_cannot_be_passed_and_says_so() =>
        Assert.Throws<ArgumentException>(() => ShellQuote.Quote("a\0b"));

    [Fact]
    public void Safe_words_stay_unquoted_for_readable_logs() =>
        Assert.Equal("pg_ctl -D /var/lib/postgresql/15/main -w start", ShellQuote.Join("pg_ctl", new[] { "-D", "/var/lib/postgresql/15/main", "-w", "start" }));

    private static string EchoThroughShell(string argument) => RunSh(ShellQuote.Join("printf", new[] { "%s", argument }));

    private static string RunSh(string script)
    {
        var psi = new ProcessStartInfo("sh") { RedirectStandardOutput = true, StandardOutputEncoding = Encoding.UTF8 };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(script);
        psi.Environment["LC_ALL"] = "C.UTF-8";
        using var p = Process.Start(psi)!;
        var output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        Assert.Equal(0, p.ExitCode);
        return output;
    }
}
