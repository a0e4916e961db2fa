using PgReplication.Core.Model;
using PgReplication.Core.Operations;

namespace PgReplication.Core.Tests;

/// <summary>Which WAL sender on the primary is a given standby's, for standbys built by hand (no slot, application_name "walreceiver").</summary>
public sealed class SenderMatchTests
{
    private static WalSender Sender(int pid, string client, string app = "walreceiver", string? slot = null, string replay = "0/3000000") =>
        new(pid, app, client, "streaming", "async", replay) { SlotName = slot };

    private static ReplicationState Facts(string? conninfo = "host=10.0.0.1 user=replicator", string cluster = "", string? serverAddr = null, string replay = "0/3000000") =>
        new() { Node = new PgNode("standby"), InRecovery = true, ReceiverConninfo = conninfo, ClusterName = cluster, ServerAddress = serverAddr, ReplayLsn = replay };

    [Fact]
    public void A_hand_built_standby_is_found_by_its_address_not_by_the_shared_name()
    {
        var senders = new[] { Sender(11, "10.0.0.2"), Sender(12, "10.0.0.3") };
        Assert.Equal(12, ReplicationCheck.SenderByAddress(senders, new PgNode("10.0.0.3"), Facts())!.Pid);
        Assert.Equal(11, ReplicationCheck.SenderByAddress(senders, new PgNode("db2"), Facts(serverAddr: "10.0.0.2"))!.Pid);
        Assert.Null(ReplicationCheck.SenderByAddress(senders, new PgNode("10.0.0.4"), Facts()));
    }

    [Fact]
    public void The_name_the_receiver_gives_itself_must_match_and_a_slot_is_another_standbys()
    {
        Assert.Null(ReplicationCheck.SenderByAddress(new[] { Sender(11, "10.0.0.2", app: "db9") }, new PgNode("10.0.0.2"), Facts()));
        Assert.Null(ReplicationCheck.SenderByAddress(new[] { Sender(11, "10.0.0.2", slot: "db2") }, new PgNode("10.0.0.2"), Facts()));
        Assert.Equal(11, ReplicationCheck.SenderByAddress(new[] { Sender(11, "10.0.0.2", app: "main") }, new PgNode("10.0.0.2"), Facts(cluster: "main"))!.Pid);
    }

    [Fact]
    public void Two_standbys_on_one_host_are_told_apart_by_their_replay_position()
    {
        var senders = new[] { Sender(11, "10.0.0.2", replay: "0/5000000"), Sender(12, "10.0.0.2", replay: "0/3000100") };
        Assert.Equal(12, ReplicationCheck.SenderByAddress(senders, new PgNode("10.0.0.2", 5433), Facts(replay: "0/3000100"))!.Pid);
        Assert.Equal(11, ReplicationCheck.SenderByAddress(senders, new PgNode("10.0.0.2", 5434), Facts(replay: "0/5000000"))!.Pid);
    }
}
