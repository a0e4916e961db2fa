using System.Net;
using PgReplication.Core.Config;

namespace PgReplication.Core.Tests;

public sealed class ConfigHbaTests
{
    private const string Initdb = """
        # TYPE  DATABASE        USER            ADDRESS                 METHOD

        # "local" is for Unix domain socket connections only
        local   all             all                                     scram-sha-256
        # IPv4 local connections:
        host    all             all             127.0.0.1/32            scram-sha-256
        # IPv6 local connections:
        host    all             all             ::1/128                 scram-sha-256
        local   replication     all                                     scram-sha-256
        host    replication     all             127.0.0.1/32            scram-sha-256
        host    replication     all             ::1/128                 scram-sha-256

        """;

    private static HbaReplicationRule Rule(string address, string role = "repl", bool ssl = false, int? prefix = null) =>
        new(role, IPAddress.Parse(address), prefix, ssl);

    [Fact]
    public void Parses_fields_lists_and_quotes_as_the_server_does()
    {
        var lines = HbaFile.Parse("hostssl  \"db,1\",replication  \"a \"\"b\"\"\",+grp  10.0.0.0/8  scram-sha-256 # comment\n");
        var line = Assert.Single(lines);
        Assert.Equal("hostssl", line.Type);
        Assert.Equal(new[] { "db,1", "replication" }, line.Database!.Items.Select(i => i.Value));
        Assert.False(line.Database.Items[0].IsKeyword("db,1"));
        Assert.True(line.Database.Items[1].IsKeyword("replication"));
        Assert.Equal("a \"b\"", line.User!.Items[0].Value);
        Assert.True(line.User.Items[0].Quoted);
        Assert.Equal("10.0.0.0/8", line.Address);
        Assert.Equal("scram-sha-256", line.Method);
    }

    [Fact]
    public void Reads_old_style_address_and_netmask()
    {
        var line = HbaFile.Parse("host replication all 10.1.0.0 255.255.0.0 md5\n").Single();
        Assert.Equal("255.255.0.0", line.Netmask);
        Assert.Equal("md5", line.Method);
    }

    [Fact]
    public void Joins_continued_lines_and_keeps_their_text()
    {
        var lines = HbaFile.Parse("host replication \\\n  all 10.0.0.0/8 trust\nlocal all all peer\n");
        Assert.Equal(2, lines.Count);
        Assert.Equal("trust", lines[0].Method);
        Assert.Equal(3, lines[1].LineNumber);
        Assert.Contains("\n", lines[0].Text);
    }

    [Fact]
    public void Comments_and_blank_lines_are_not_rules()
    {
        Assert.All(HbaFile.Parse("# x\n\n   \t\n"), l => Assert.False(l.IsRule));
    }

    [Fact]
    public void An_unterminated_quote_is_reported()
    {
        Assert.Single(HbaFile.Check("host all \"repl all 10.0.0.1/32 md5\n"));
    }

    [Theory]
    [InlineData("hots all all 10.0.0.1/32 md5")]
    [InlineData("host all all 10.0.0.1/33 md5")]
    [InlineData("host all all 10.0.0.1/32")]
    [InlineData("local all")]
    public void The_dry_check_finds_what_the_server_would_refuse(string line)
    {
        Assert.NotEmpty(HbaFile.Check(Initdb + line + "\n"));
    }

    [Fact]
    public void The_dry_check_passes_a_good_file()
    {
        Assert.Empty(HbaFile.Check(Initdb + "hostssl replication \"r x\" fd00::5/128 scram-sha-256\ninclude_if_exists extra.conf\n"));
    }

    [Theory]
    [InlineData("repl", "repl")]
    [InlineData("Repl", "\"Repl\"")]
    [InlineData("all", "\"all\"")]
    [InlineData("replication", "\"replication\"")]
    [InlineData("+admins", "\"+admins\"")]
    [InlineData("o'neil \"x\"", "\"o'neil \"\"x\"\"\"")]
    public void Role_names_are_quoted_where_they_need_it(string name, string expected)
    {
        Assert.Equal(expected, HbaFile.QuoteName(name));
        // and the quoted name reads back as the name
        var line = HbaFile.Parse($"host replication {expected} 10.0.0.1/32 scram-sha-256").Single();
        Assert.Equal(name, line.User!.Items.Single().Value);
    }

    [Fact]
    public void A_rule_is_appended_when_no_line_would_match_first()
    {
        var edit = HbaEditor.AddReplicationRules(Initdb, new[] { Rule("10.0.0.2") });
        Assert.True(edit.Changed);
        var last = HbaFile.Parse(edit.NewText).Last(l => l.IsRule);
        Assert.Equal("host", last.Type);
        Assert.Equal("10.0.0.2/32", last.Address);
        Assert.Equal("scram-sha-256", last.Method);
        Assert.StartsWith(Initdb, edit.NewText);
        Assert.EndsWith("\n", edit.NewText);
    }

    [Fact]
    public void A_second_run_adds_nothing()
    {
        var once = HbaEditor.AddReplicationRules(Initdb, new[] { Rule("10.0.0.2"), Rule("fd00::2") }).NewText;
        var twice = HbaEditor.AddReplicationRules(once, new[] { Rule("10.0.0.2"), Rule("fd00::2") });
        Assert.False(twice.Changed);
        Assert.Equal(once, twice.NewText);
        Assert.Contains("fd00::2/128", once);
    }

    [Fact]
    public void A_rule_goes_above_a_line_that_would_match_first()
    {
        var text = Initdb + "host replication all 10.0.0.0/8 reject\nhost replication all 0.0.0.0/0 trust\n";
        var edit = HbaEditor.AddReplicationRules(text, new[] { Rule("10.0.0.2") });
        var rules = HbaFile.Parse(edit.NewText).Where(l => l.IsRule).ToList();
        var ours = rules.FindIndex(l => l.Address == "10.0.0.2/32");
        var reject = rules.FindIndex(l => l.Method == "reject");
        Assert.True(ours >= 0 && ours < reject);
        Assert.Equal(rules.Count - 1, rules.FindIndex(l => l.Method == "trust"));
    }

    [Theory]
    [InlineData("host all all 0.0.0.0/0 trust", false)]              // "all" databases do not include replication
    [InlineData("host replication other 10.0.0.0/8 reject", false)]  // another role
    [InlineData("host replication all 192.168.0.0/16 reject", false)]
    [InlineData("host replication all 10.0.0.0/8 reject", true)]
    [InlineData("host replication +grp 10.0.0.0/8 reject", true)]    // a group may hold our role
    [InlineData("host replication all samenet reject", true)]
    [InlineData("host replication all db9.example reject", true)]    // a host name: cannot tell
    [InlineData("hostnossl replication repl all reject", true)]
    [InlineData("host replication all 10.0.0.0 255.0.0.0 reject", true)]
    [InlineData("local replication all trust", false)]
    public void Knows_which_lines_could_meet_the_connection_first(string line, bool matches)
    {
        Assert.Equal(matches, Rule("10.0.0.2").CouldBeMatchedBy(HbaFile.Parse(line).Single()));
    }

    [Fact]
    public void A_shadowed_copy_is_moved_up_not_duplicated()
    {
        var text = Initdb + "host replication all 10.0.0.0/8 reject\nhost\treplication\trepl\t10.0.0.2/32\tscram-sha-256\n";
        var edit = HbaEditor.AddReplicationRules(text, new[] { Rule("10.0.0.2") });
        var ours = HbaFile.Parse(edit.NewText).Where(l => l.Address == "10.0.0.2/32").ToList();
        Assert.Single(ours);
        Assert.Single(edit.RemovedLines);
        Assert.False(HbaEditor.AddReplicationRules(edit.NewText, new[] { Rule("10.0.0.2") }).Changed);
    }

    [Fact]
    public void RequireSsl_writes_hostssl_and_a_host_line_does_not_count_for_it()
    {
        var plain = HbaEditor.AddReplicationRules(Initdb, new[] { Rule("10.0.0.2") }).NewText;
        var edit = HbaEditor.AddReplicationRules(plain, new[] { Rule("10.0.0.2", ssl: true) });
        Assert.True(edit.Changed);
        Assert.StartsWith("hostssl", edit.AddedLines.Single());
    }

    [Fact]
    public void A_CIDR_is_kept_as_a_network()
    {
        var rule = Rule("10.1.2.3", prefix: 16);
        Assert.Equal("10.1.0.0/16", rule.Cidr);
        Assert.Contains("10.1.0.0/16", rule.Line);
    }

    [Fact]
    public void Never_writes_trust_and_quotes_odd_role_names()
    {
        var edit = HbaEditor.AddReplicationRules(Initdb, new[] { Rule("10.0.0.2", role: "rep 'l\"") });
        var added = edit.AddedLines.Single();
        Assert.DoesNotContain("trust", added);
        var line = HbaFile.Parse(added).Single();
        Assert.Equal("rep 'l\"", line.User!.Items.Single().Value);
        Assert.Empty(HbaFile.Check(edit.NewText));
    }

    [Fact]
    public void Keeps_CRLF_files_CRLF()
    {
        var text = Initdb.Replace("\n", "\r\n");
        var edit = HbaEditor.AddReplicationRules(text, new[] { Rule("10.0.0.2") });
        Assert.DoesNotContain("\n", edit.NewText.Replace("\r\n", ""));
    }

    [Theory]
    [InlineData("repl\nhost all all 0.0.0.0/0 trust")]
    [InlineData("repl\r")]
    [InlineData("re\0pl")]
    public void A_role_with_a_line_break_is_refused(string role)
    {
        var ex = Assert.Throws<ArgumentException>(() => Rule("10.0.0.2", role: role));
        Assert.Contains("line break", ex.Message);
    }
}
