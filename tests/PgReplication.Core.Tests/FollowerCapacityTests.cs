using PgReplication.Core.Operations;
using Xunit;

namespace PgReplication.Core.Tests;

// Issue 18, point 2: a switchover proves, before the demotion, that the new primary has room for its followers.
public class FollowerCapacityTests
{
    [Fact]
    public void Room_for_every_follower_is_no_refusal()
    {
        var capacity = new FollowerCapacity(MaxSlots: 10, Slots: new[] { "db3" }, MaxWalSenders: 10, SendersInUse: 0);
        Assert.Null(capacity.Refusal("db2", new[] { "db1", "db3" }));
    }

    [Fact]
    public void A_slot_that_exists_already_takes_no_new_room()
    {
        var capacity = new FollowerCapacity(MaxSlots: 2, Slots: new[] { "db1", "db3" }, MaxWalSenders: 10, SendersInUse: 0);
        Assert.Null(capacity.Refusal("db2", new[] { "db1", "db3" }));
    }

    [Fact]
    public void Too_few_slots_are_refused_naming_the_host_and_the_setting()
    {
        var capacity = new FollowerCapacity(MaxSlots: 2, Slots: new[] { "other" }, MaxWalSenders: 10, SendersInUse: 0);
        var refusal = capacity.Refusal("db2", new[] { "db1", "db3" });
        Assert.NotNull(refusal);
        Assert.Contains("db2", refusal);
        Assert.Contains("max_replication_slots = 2", refusal);
        Assert.Contains("2 more", refusal);
    }

    [Fact]
    public void Too_few_wal_senders_are_refused()
    {
        var capacity = new FollowerCapacity(MaxSlots: 10, Slots: Array.Empty<string>(), MaxWalSenders: 2, SendersInUse: 1);
        var refusal = capacity.Refusal("db2", new[] { "db1", "db3" });
        Assert.NotNull(refusal);
        Assert.Contains("max_wal_senders = 2", refusal);
    }
}
