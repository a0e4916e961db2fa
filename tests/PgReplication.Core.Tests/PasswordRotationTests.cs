using PgReplication.Core.Config;
using PgReplication.Core.Model;
using PgReplication.Core.Operations;
using PgReplication.Core.Sql;

namespace PgReplication.Core.Tests;

/// <summary>Set-PgReplicationPassword's decision, without a server: refusals first, then passfiles and the verifier.</summary>
public sealed class PasswordRotationTests
{
    private static readonly PgNode Primary = new("10.0.0.1") { Role = NodeRole.Primary };
    private static readonly PgNode Standby = new("10.0.0.2") { Role = NodeRole.Standby };

    private static PasswordRotationFacts Facts(string passfile, string? verifier, int? mode = 384, bool inConninfo = false, IReadOnlyList<string>? unknown = null) => new()
    {
        Primary = Primary, Role = "replicator", Verifier = verifier, UnknownSenders = unknown ?? Array.Empty<string>(),
        PassFiles = new[]
        {
            new PassFileFacts { Node = Primary, Path = "/var/lib/postgresql/.pgpass", Text = "" },
            new PassFileFacts { Node = Standby, Path = "/var/lib/postgresql/.pgpass", Text = passfile, Mode = mode, Upstream = ("10.0.0.1", 5432), ConninfoUser = "replicator", PasswordInConninfo = inConninfo },
        },
    };

    [Fact]
    public void Passfiles_come_before_the_verifier_and_only_the_standbys_entry_changes()
    {
        var plan = ReplicationPassword.Decide(Facts("10.0.0.1:5432:*:replicator:old\n*:*:*:other:x\n", ScramVerifier.Compute("old")), "new", force: false);
        Assert.True(plan.SetVerifier);
        var write = Assert.Single(plan.PassFileWrites);
        Assert.Equal("10.0.0.1:5432:*:replicator:new\n*:*:*:other:x\n", write.NewText);
        Assert.Equal("10.0.0.1:5432:*:replicator:old\n*:*:*:other:x\n", write.OldText);
        Assert.Contains("verifier", plan.Steps[^1]);
        Assert.DoesNotContain(plan.Steps, s => s.Contains("new\n") || s.EndsWith(":new"));
    }

    [Fact]
    public void A_second_run_changes_nothing()
    {
        var plan = ReplicationPassword.Decide(Facts("10.0.0.1:5432:*:replicator:new\n", ScramVerifier.Compute("new")), "new", force: false);
        Assert.True(plan.ChangesNothing);
    }

    [Fact]
    public void A_half_done_rotation_finishes_what_is_missing()
    {
        var plan = ReplicationPassword.Decide(Facts("10.0.0.1:5432:*:replicator:new\n", ScramVerifier.Compute("old")), "new", force: false);
        Assert.Empty(plan.PassFileWrites);
        Assert.True(plan.SetVerifier);
    }

    [Fact]
    public void A_wildcard_line_above_gets_our_entry_put_first()
    {
        var plan = ReplicationPassword.Decide(Facts("*:*:*:replicator:old\n", ScramVerifier.Compute("old")), "new", force: false);
        var write = Assert.Single(plan.PassFileWrites);
        Assert.Equal("new", PassFile.Find(write.NewText, "10.0.0.1", 5432, "replicator"));
    }

    [Fact]
    public void A_passfile_others_can_read_is_written_again_0600()
    {
        var plan = ReplicationPassword.Decide(Facts("10.0.0.1:5432:*:replicator:new\n", ScramVerifier.Compute("new"), mode: 420), "new", force: false);
        Assert.Contains("0600", Assert.Single(plan.PassFileWrites).Reason);
    }

    [Fact]
    public void A_password_in_primary_conninfo_is_refused()
    {
        var ex = Assert.Throws<PasswordRotationException>(() => ReplicationPassword.Decide(Facts("", ScramVerifier.Compute("old"), inConninfo: true), "new", force: false));
        Assert.Equal("PasswordInConninfo", ex.Reason);
        Assert.Contains("10.0.0.2", ex.Message);
    }

    [Fact]
    public void Senders_of_nodes_not_given_are_refused_unless_forced()
    {
        var facts = Facts("10.0.0.1:5432:*:replicator:old\n", ScramVerifier.Compute("old"), unknown: new[] { "10.0.0.9" });
        var ex = Assert.Throws<PasswordRotationException>(() => ReplicationPassword.Decide(facts, "new", force: false));
        Assert.Equal("UnknownStandby", ex.Reason);
        Assert.Contains("10.0.0.9", ex.Message);
        Assert.False(ReplicationPassword.Decide(facts, "new", force: true).ChangesNothing);
    }

    [Fact]
    public void WithPassword_changes_only_the_roles_lines_for_members()
    {
        var text = "# c\n10.0.0.3:5432:replication:replicator:old\n10.0.0.3:5432:*:other:old\n10.0.0.9:5432:*:replicator:old\n";
        var result = PassFile.WithPassword(text, new[] { ("10.0.0.3", 5432) }, "replicator", "n:e\\w");
        Assert.Equal("# c\n10.0.0.3:5432:replication:replicator:n\\:e\\\\w\n10.0.0.3:5432:*:other:old\n10.0.0.9:5432:*:replicator:old\n", result);
        Assert.Equal("n:e\\w", PassFile.Find(result, "10.0.0.3", 5432, "replicator"));
    }
}
