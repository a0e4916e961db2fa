using PgReplication.Core.Operations;
using PgReplication.Core.Config;

namespace PgReplication.Core.Tests;

public sealed class PrimaryConfigPlanTests
{
    // A fresh initdb of each major as pg_settings shows it.
    private static Dictionary<string, CurrentSetting> Fresh(int major, Dictionary<string, string>? files = null)
    {
        var s = new List<CurrentSetting>
        {
            new("listen_addresses", "localhost", null, "postmaster", false, null),
            new("wal_level", "replica", null, "postmaster", false, null),
            new("max_wal_senders", "10", null, "postmaster", false, null),
            new("max_replication_slots", "10", null, "postmaster", false, null),
            new("hot_standby", "on", null, "postmaster", false, null),
            new("wal_log_hints", "off", null, "postmaster", false, null),
            new("synchronous_standby_names", "", null, "sighup", false, null),
            new("archive_mode", "off", null, "postmaster", false, null),
            new("archive_command", "", null, "sighup", false, null),
            new("wal_segment_size", major >= 11 ? "16777216" : "2048", major >= 11 ? "B" : "8kB", "internal", false, null),
        };
        if (major >= 13)
        {
            s.Add(new("wal_keep_size", "0", "MB", "sighup", false, null));
            s.Add(new("max_slot_wal_keep_size", "-1", "MB", "sighup", false, null));
        }
        else s.Add(new("wal_keep_segments", "0", null, "sighup", false, null));
        if (major >= 15) s.Add(new("archive_library", "", null, "sighup", false, null));
        return s.ToDictionary(x => x.Name, x => files is not null && files.TryGetValue(x.Name, out var f) ? x with { FileSetting = f } : x);
    }

    private static PrimaryConfigOptions Options() => new() { ReplicationUser = "repl" };

    private static List<PrimaryConfigChange> Plan(int major, Dictionary<string, CurrentSetting> current, PrimaryConfigOptions? options = null,
        int standbys = 2, bool checksums = false, string listen = "10.0.0.1", WalArchive? archive = null) =>
        PrimaryConfig.PlanSettings(major, current, options ?? Options(), standbys, checksums, new[] { listen }, archive, "db1", NullOperationLog.Instance).ToList();

    public static IEnumerable<object[]> Majors() => Enumerable.Range(10, 9).Select(m => new object[] { m });

    [Theory]
    [MemberData(nameof(Majors))]
    public void A_fresh_server_gets_listen_retention_and_hints(int major)
    {
        var changes = Plan(major, Fresh(major));
        var names = changes.Select(c => c.Target).ToList();
        var keep = major >= 13 ? "wal_keep_size" : "wal_keep_segments";
        Assert.Equal(new[] { "listen_addresses", keep, "wal_log_hints" }, names);
        Assert.Equal("localhost,10.0.0.1", changes[0].NewValue);
        Assert.True(changes[0].NeedsRestart);
        Assert.Equal(major >= 13 ? "1024MB" : "64", changes[1].NewValue);
        Assert.DoesNotContain("max_slot_wal_keep_size", names);
    }

    [Theory]
    [MemberData(nameof(Majors))]
    public void A_configured_server_needs_nothing(int major)
    {
        var keep = major >= 13 ? "wal_keep_size" : "wal_keep_segments";
        var current = Fresh(major, new() { ["listen_addresses"] = "*", [keep] = major >= 13 ? "2GB" : "128", ["wal_log_hints"] = "on" });
        Assert.Empty(Plan(major, current));
    }

    [Fact]
    public void Data_checksums_make_wal_log_hints_unneeded()
    {
        Assert.DoesNotContain(Plan(15, Fresh(15), checksums: true), c => c.Target == "wal_log_hints");
    }

    [Fact]
    public void A_value_waiting_for_a_restart_counts_as_set()
    {
        // ALTER SYSTEM SET wal_level = minimal was run but not yet restarted: the file decides.
        var current = Fresh(15, new() { ["wal_level"] = "minimal", ["max_wal_senders"] = "0" });
        var changes = Plan(15, current);
        Assert.Contains(changes, c => c.Target == "wal_level" && c.OldValue == "minimal" && c.NewValue == "replica");
        Assert.Contains(changes, c => c.Target == "max_wal_senders" && c.NewValue == "4");
    }

    [Fact]
    public void Logical_is_enough_and_more_senders_are_kept()
    {
        var current = Fresh(16, new() { ["wal_level"] = "logical", ["max_wal_senders"] = "20" });
        var changes = Plan(16, current, standbys: 30);
        Assert.DoesNotContain(changes, c => c.Target == "wal_level");
        Assert.Contains(changes, c => c.Target == "max_wal_senders" && c.NewValue == "32");
        Assert.Contains(changes, c => c.Target == "max_replication_slots" && c.NewValue == "32");
    }

    [Fact]
    public void Max_slot_wal_keep_size_only_from_13()
    {
        var options = new PrimaryConfigOptions { ReplicationUser = "repl", MaxSlotWalKeepSizeMB = 4096 };
        Assert.Contains(Plan(13, Fresh(13), options), c => c.Target == "max_slot_wal_keep_size" && c.NewValue == "4096MB");
        Assert.DoesNotContain(Plan(12, Fresh(12), options), c => c.Target == "max_slot_wal_keep_size");
        var set = Fresh(14, new() { ["max_slot_wal_keep_size"] = "4GB" });
        Assert.DoesNotContain(Plan(14, set, options), c => c.Target == "max_slot_wal_keep_size");
    }

    [Fact]
    public void Synchronous_replication_is_written_once()
    {
        var options = new PrimaryConfigOptions { ReplicationUser = "repl", SynchronousStandbys = new[] { "db2", "db3" }, SynchronousMode = SynchronousMode.Any, SynchronousCount = 1 };
        var change = Assert.Single(Plan(15, Fresh(15), options), c => c.Target == "synchronous_standby_names");
        Assert.Equal("ANY 1 (\"db2\", \"db3\")", change.NewValue);
        var again = Fresh(15, new() { ["synchronous_standby_names"] = change.NewValue });
        Assert.DoesNotContain(Plan(15, again, options), c => c.Target == "synchronous_standby_names");
    }

    [Theory]
    [InlineData("pgbackrest --stanza=main archive-push %p", null)]
    [InlineData("/srv/wal", "/srv/wal")]
    [InlineData("/srv/wal/", "/srv/wal")]
    public void WalArchive_tells_commands_from_directories(string value, string? directory)
    {
        var archive = WalArchive.Parse(value);
        Assert.Equal(directory, archive.Directory);
        Assert.Contains("%p", archive.Command);
    }

    [Theory]
    [InlineData("cp /x /y")]
    [InlineData("cp %p /x\nrm -rf /")]
    [InlineData("cp %p /x\0")]
    [InlineData("relative/dir")]
    public void WalArchive_refuses_bad_values(string value)
    {
        Assert.Throws<ArgumentException>(() => WalArchive.Parse(value));
    }

    [Fact]
    public void The_directory_command_never_swallows_a_failure()
    {
        var command = WalArchive.DirectoryCommand("/srv/wal 100%");
        Assert.DoesNotContain("|| true", command);
        Assert.Contains("'/srv/wal 100%%'", command);
        Assert.Contains("mv ", command);
        Assert.Contains(".part", command);
    }

    [Fact]
    public void Archive_settings_are_planned_and_archive_library_is_refused()
    {
        var archive = WalArchive.Parse("/srv/wal");
        var changes = Plan(15, Fresh(15), archive: archive);
        Assert.Contains(changes, c => c.Target == "archive_mode" && c.NewValue == "on" && c.NeedsRestart);
        Assert.Contains(changes, c => c.Target == "archive_command" && c.NewValue == archive.Command);
        var withLibrary = Fresh(15, new() { ["archive_library"] = "basic_archive" });
        var ex = Assert.Throws<InvalidOperationException>(() => Plan(15, withLibrary, archive: archive));
        Assert.Contains("db1", ex.Message);
    }

    [Fact]
    public void A_setting_the_server_lacks_is_an_error_naming_host_and_setting()
    {
        var current = Fresh(15);
        current.Remove("wal_log_hints");
        var ex = Assert.Throws<InvalidOperationException>(() => Plan(15, current));
        Assert.Contains("db1", ex.Message);
        Assert.Contains("wal_log_hints", ex.Message);
    }

    [Fact]
    public void Standby_addresses_become_host_rules()
    {
        var rules = PrimaryConfig.ResolveStandbys(new[] { "10.0.0.2", "fd00::3", "[fd00::4]", "10.9.0.0/16", "10.0.0.2", "localhost", "10.0.0.7/32" }, "repl", false, "db1", allowNetwork: true);
        var cidrs = rules.Select(r => r.Cidr).ToList();
        Assert.Contains("10.0.0.2/32", cidrs);
        Assert.Contains("fd00::3/128", cidrs);
        Assert.Contains("fd00::4/128", cidrs);
        Assert.Contains("10.9.0.0/16", cidrs);
        Assert.Contains("127.0.0.1/32", cidrs);
        Assert.Single(cidrs, c => c == "10.0.0.2/32");
        Assert.Contains("10.0.0.7/32", cidrs);
    }

    [Theory]
    [InlineData("10.0.0.0/8")]
    [InlineData("192.168.1.0/24")]
    [InlineData("10.0.0.2/31")]
    [InlineData("fd00::/64")]
    public void A_network_wider_than_one_host_needs_AllowNetwork(string network)
    {
        var ex = Assert.Throws<ArgumentException>(() => PrimaryConfig.ResolveStandbys(new[] { network }, "repl", false, "db1"));
        Assert.Contains(network, ex.Message);
        Assert.Contains("db1", ex.Message);
        Assert.Contains("-AllowNetwork", ex.Message);
        Assert.Single(PrimaryConfig.ResolveStandbys(new[] { network }, "repl", false, "db1", allowNetwork: true));
    }

    [Theory]
    [InlineData("0.0.0.0/0")]
    [InlineData("::/0")]
    public void Every_address_there_is_is_refused_even_with_AllowNetwork(string network)
    {
        var ex = Assert.Throws<ArgumentException>(() => PrimaryConfig.ResolveStandbys(new[] { network }, "repl", false, "db1", allowNetwork: true));
        Assert.Contains(network, ex.Message);
        Assert.Contains("every address", ex.Message);
    }

    [Theory]
    [InlineData("10.0.0.2\n")]
    [InlineData("10.0.0.0/33")]
    [InlineData("bad name")]
    public void Bad_standby_addresses_are_refused_naming_them(string address)
    {
        var ex = Assert.Throws<ArgumentException>(() => PrimaryConfig.ResolveStandbys(new[] { address }, "repl", false, "db1"));
        Assert.Contains(address.Trim('\n').Split('/')[0], ex.Message);
    }
}
