using PgReplication.Core.Model;
using PgReplication.Core.Operations;

namespace PgReplication.Core.Tests;

/// <summary>What a data directory holds, read from the inspection's output, and what a destructive step may do to it.</summary>
public sealed class DataDirectoryGuardTests
{
    private const string Boot = "boot=1b4e28ba-2fa1-11d2-883f-0016d3cca427\nmntns=mnt:[4026531840]\n";
    private static readonly PgNode Db1 = new("db1") { SystemIdentifier = 7300000000000000001, ServerVersionNumber = 150018 };

    private static string Cluster(string state, string sysid = "7300000000000000001", bool alive = false, bool marker = false, bool label = false, int timeline = 3) =>
        Boot + "inode=2049:131\nreal=/var/lib/postgresql/15/main\ninuse=1\npg_version=15\ncontrol=1\n" +
        (label ? "backup_label=1\n" : "") + (marker ? "standby_marker=1\n" : "") +
        (alive ? "pid=4242\nport=5433\nalive=1\n" : "pid=4242\nport=5433\n") +
        "--controldata\n" +
        $"pg_control version number:            1300\nDatabase system identifier:           {sysid}\nDatabase cluster state:               {state}\n" +
        $"Latest checkpoint's TimeLineID:       {timeline}\n";

    private static DataDirectoryIdentity Parse(string output) => DataDirectoryGuard.Parse(output, "db2", "/var/lib/postgresql/15/main");

    [Fact]
    public void Each_kind_is_read_from_what_the_directory_holds()
    {
        Assert.Equal(DataDirectoryKind.Empty, Parse(Boot).Kind);
        Assert.Equal(DataDirectoryKind.Empty, Parse(Boot + "inode=1:2\nreal=/x\n").Kind);
        Assert.Equal(DataDirectoryKind.NotACluster, Parse(Boot + "inode=1:2\nreal=/x\ninuse=1\nnested=\n").Kind);
        Assert.Equal(DataDirectoryKind.UnfinishedCopy, Parse(Boot + "inuse=1\npg_version=15\nbackup_label=1\n").Kind);
        Assert.Equal(DataDirectoryKind.OtherMajor, Parse(Boot + "inuse=1\npg_version=13\ncontrol=1\npid=77\nport=5432\nalive=1\n").Kind);
        Assert.Equal(DataDirectoryKind.Stopped, Parse(Cluster("in production")).Kind); // crashed primary: pid file, no process
        Assert.Equal(DataDirectoryKind.RunningPrimary, Parse(Cluster("in production", alive: true)).Kind);
        Assert.Equal(DataDirectoryKind.RunningPrimary, Parse(Cluster("in production", alive: true, marker: true)).Kind);
        Assert.Equal(DataDirectoryKind.RunningPrimary, Parse(Cluster("in crash recovery", alive: true)).Kind);
        Assert.Equal(DataDirectoryKind.RunningStandby, Parse(Cluster("in archive recovery", alive: true, marker: true)).Kind);
        var standby = Parse(Cluster("in archive recovery", alive: true, marker: true));
        Assert.Equal(3, standby.Timeline);
        Assert.Equal(5433, standby.PostmasterPort);
        Assert.Equal("7300000000000000001", standby.SystemIdentifier);
    }

    [Fact]
    public void Without_pg_controldata_the_control_file_itself_is_read()
    {
        var raw = Parse(Boot + "inuse=1\npg_version=15\ncontrol=1\npid=9\nport=5432\nalive=1\nraw_sysid=7300000000000000001\nraw_state=5\n");
        Assert.Equal(DataDirectoryKind.RunningStandby, raw.Kind);
        Assert.Equal("in archive recovery", raw.ClusterState);
        Assert.Equal(DataDirectoryKind.RunningPrimary, Parse(Boot + "inuse=1\npg_version=15\ncontrol=1\npid=9\nport=5432\nalive=1\nraw_sysid=1\nraw_state=6\n").Kind);
    }

    [Fact]
    public void A_copy_is_a_standby_or_a_stopped_copy_of_the_primary_never_the_primary()
    {
        Assert.True(Parse(Cluster("in archive recovery", alive: true, marker: true)).IsCopyOf(Db1));
        Assert.True(Parse(Cluster("shut down in recovery")).IsCopyOf(Db1));
        Assert.True(Parse(Cluster("in production", label: true)).IsCopyOf(Db1)); // a base backup never started
        Assert.True(Parse(Cluster("shut down", marker: true)).IsCopyOf(Db1));
        Assert.False(Parse(Cluster("in production", alive: true)).IsCopyOf(Db1));
        Assert.False(Parse(Cluster("shut down")).IsCopyOf(Db1)); // a stopped primary of the same cluster
        Assert.False(Parse(Cluster("in archive recovery", sysid: "42", alive: true, marker: true)).IsCopyOf(Db1));
        var itself = DataDirectoryGuard.Compare(Parse(Cluster("in archive recovery", alive: true, marker: true)), Parse(Cluster("in production", alive: true)));
        Assert.True(itself.IsSourcePrimary);
        Assert.False(itself.IsCopyOf(Db1));
    }

    [Fact]
    public void The_same_directory_is_found_by_inode_or_resolved_path_on_the_same_machine_only()
    {
        var primary = Parse(Boot + "inode=2049:131\nreal=/var/lib/postgresql/15/main\ninuse=1\n");
        Assert.True(DataDirectoryGuard.Compare(Parse(Boot + "inode=2049:131\nreal=/srv/link-target\ninuse=1\n"), primary).IsSourcePrimary);
        Assert.True(DataDirectoryGuard.Compare(Parse(Boot + "inode=9:9\nreal=/var/lib/postgresql/15/main\ninuse=1\n"), primary).IsSourcePrimary);
        var parent = DataDirectoryGuard.Compare(Parse(Boot + "inode=9:8\nreal=/var/lib/postgresql/15\ninuse=1\n"), primary);
        Assert.True(parent.OverlapsSourcePrimary);
        Assert.False(parent.IsSourcePrimary);
        Assert.True(DataDirectoryGuard.Compare(Parse(Boot + "inode=9:7\nreal=/var/lib/postgresql/15/main/base\ninuse=1\n"), primary).OverlapsSourcePrimary);
        Assert.False(DataDirectoryGuard.Compare(Parse(Boot + "inode=9:6\nreal=/var/lib/postgresql/15/mainly\ninuse=1\n"), primary).OverlapsSourcePrimary);
        // Another machine: the same path there is another directory.
        var elsewhere = DataDirectoryGuard.Compare(Parse("boot=other\nmntns=mnt:[4026531840]\ninode=2049:131\nreal=/var/lib/postgresql/15/main\ninuse=1\n"), primary);
        Assert.False(elsewhere.IsSourcePrimary || elsewhere.OverlapsSourcePrimary);
        // Another mount namespace on this machine (a lab host, a container): the same path is another directory, the same inode is not.
        var container = "boot=1b4e28ba-2fa1-11d2-883f-0016d3cca427\nmntns=mnt:[4026532999]\n";
        var samePath = DataDirectoryGuard.Compare(Parse(container + "inode=2050:7\nreal=/var/lib/postgresql/15/main\ninuse=1\n"), primary);
        Assert.False(samePath.IsSourcePrimary || samePath.OverlapsSourcePrimary);
        Assert.True(DataDirectoryGuard.Compare(Parse(container + "inode=2049:131\nreal=/srv/bound\ninuse=1\n"), primary).IsSourcePrimary);
    }

    [Theory]
    [InlineData("the source", "itself", ErrorReasons.TargetIsSourcePrimary)]
    [InlineData("running primary", "never replaced", ErrorReasons.TargetIsRunningPrimary)]
    [InlineData("other major", "PostgreSQL 13", ErrorReasons.TargetIsOtherMajor)]
    [InlineData("nested", "holds another data directory", ErrorReasons.TargetHoldsDataDirectories)]
    public void What_no_Force_replaces_is_refused_naming_the_host_and_the_path(string what, string expected, string reason)
    {
        var target = what switch
        {
            "the source" => DataDirectoryGuard.Compare(Parse(Cluster("in production", alive: true)), Parse(Cluster("in production", alive: true))),
            "running primary" => Parse(Cluster("in production", sysid: "42", alive: true)),
            "other major" => Parse(Boot + "inuse=1\npg_version=13\ncontrol=1\n"),
            _ => Parse(Boot + "inuse=1\nnested=/var/lib/postgresql/15/main\n"),
        };
        var ex = Assert.Throws<RefusedException>(() => DataDirectoryGuard.EnsureMayReplace(target, Db1, force: true, "empty", "Use -Force."));
        Assert.Equal(reason, ex.Reason);
        Assert.Contains(expected, ex.Message);
        Assert.Contains("db2", ex.Message);
        Assert.Contains("/var/lib/postgresql/15/main", ex.Message);
    }

    [Fact]
    public void Force_replaces_a_stopped_cluster_a_standby_or_a_stray_directory_and_says_which()
    {
        var other = Parse(Cluster("shut down", sysid: "42"));
        DataDirectoryGuard.EnsureMayReplace(other, Db1, force: true, "empty", "Use -Force.");
        Assert.Equal("a stopped cluster, system identifier 42, not db1's", other.Describe(Db1));
        var standby = Parse(Cluster("in archive recovery", alive: true, marker: true));
        DataDirectoryGuard.EnsureMayReplace(standby, Db1, force: true, "stop and empty", "Use -Force.");
        Assert.Equal("a running standby of db1 on timeline 3", standby.Describe(Db1));
        var refused = Assert.Throws<RefusedException>(() => DataDirectoryGuard.EnsureMayReplace(other, Db1, force: false, "empty", "Use -Force to empty it."));
        Assert.Equal(ErrorReasons.TargetNotEmpty, refused.Reason);
        Assert.Contains("a stopped cluster, system identifier 42", refused.Message);
        Assert.Contains("Use -Force to empty it.", refused.Message);
        DataDirectoryGuard.EnsureMayReplace(Parse(Boot), Db1, force: false, "empty", "Use -Force.");
    }
}
