using PgReplication.Core.Model;
using PgReplication.Core.Operations;

namespace PgReplication.Core.Tests;

/// <summary>What the candidates' positions alone decide before a promotion asks the old primary anything.</summary>
public sealed class PromotionDecisionTests
{
    private static StandbyPosition Position(PgNode node, bool reachable = true, bool inRecovery = true) => new()
    {
        Node = node, Reachable = reachable, InRecovery = inRecovery, Timeline = 1, ReceiveLsn = "0/3000000",
        Error = reachable ? null : "connection refused",
    };

    private static PromotionRequest Request(IReadOnlyList<PgNode> candidates, params PgNode[] siblings) =>
        new() { Candidates = candidates, Siblings = siblings };

    [Fact]
    public void Standbys_that_answer_leave_the_choice_to_the_ranking()
    {
        var (db2, db3) = (new PgNode("db2"), new PgNode("db3"));
        Assert.Null(Promotion.DecidedByPositions(new[] { Position(db2), Position(db3, reachable: false) }, Request(new[] { db2, db3 })));
    }

    [Fact]
    public void Two_primaries_among_the_candidates_are_refused_as_split_brain()
    {
        var (db2, db3) = (new PgNode("db2"), new PgNode("db3"));
        var ex = Assert.Throws<PromotionRefusedException>(() =>
            Promotion.DecidedByPositions(new[] { Position(db2, inRecovery: false), Position(db3, inRecovery: false) }, Request(new[] { db2, db3 })));
        Assert.Equal(ErrorReasons.SplitBrain, ex.Reason);
        Assert.Contains("db2 and db3", ex.Message);
    }

    [Fact]
    public void No_candidate_that_answers_is_refused_naming_each()
    {
        var (db2, db3) = (new PgNode("db2"), new PgNode("db3"));
        var ex = Assert.Throws<PromotionRefusedException>(() =>
            Promotion.DecidedByPositions(new[] { Position(db2, reachable: false), Position(db3, reachable: false) }, Request(new[] { db2, db3 })));
        Assert.Equal(ErrorReasons.NoCandidate, ex.Reason);
        Assert.Contains("db2", ex.Message);
        Assert.Contains("db3", ex.Message);
    }

    [Fact]
    public void A_candidate_already_primary_is_a_second_run_that_only_repoints_the_others()
    {
        var (db2, db3, db4, db1) = (new PgNode("db2"), new PgNode("db3"), new PgNode("db4"), new PgNode("db1"));
        var positions = new[] { Position(db2, inRecovery: false), Position(db3), Position(db4, reachable: false) };
        var plan = Promotion.DecidedByPositions(positions, Request(new[] { db2, db3, db4 }, db1, db3));
        Assert.NotNull(plan);
        Assert.True(plan!.AlreadyPromoted);
        Assert.Same(db2, plan.Chosen.Node);
        // The answering candidates and the siblings that are not candidates; one that does not answer is left alone.
        Assert.Equal(new[] { db3, db1 }, plan.Followers);
        Assert.Equal("nothing to promote: db2 is already the primary", plan.Steps[0]);
    }
}
