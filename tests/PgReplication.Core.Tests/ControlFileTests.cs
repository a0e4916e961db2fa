using System.Text;
using System.Text.Json;
using PgReplication.Core.Model;
using PgReplication.Core.Operations;
using PgReplication.Core.Versions;

namespace PgReplication.Core.Tests;

/// <summary>
/// global/pg_control decoded without pg_controldata (ControlData.Decode), on real control files of every supported major
/// (ControlFiles/, made by tools/New-ControlFileFixtures.ps1 with each major's initdb and server): after a crash, a clean
/// shutdown and a shutdown in recovery, against what the running server said, and for 15 against pg_controldata.
/// </summary>
public sealed class ControlFileTests
{
    private static readonly string Folder = Path.Combine(AppContext.BaseDirectory, "ControlFiles");

    public static IEnumerable<object[]> Files() =>
        JsonDocument.Parse(File.ReadAllText(Path.Combine(Folder, "expected.json"))).RootElement.EnumerateObject().Select(p => new object[] { p.Name });

    private static JsonElement Expected(string name) => JsonDocument.Parse(File.ReadAllText(Path.Combine(Folder, "expected.json"))).RootElement.GetProperty(name);

    private static string Text(JsonElement e, string property) => e.GetProperty(property).ValueKind == JsonValueKind.Number
        ? e.GetProperty(property).GetRawText() : e.GetProperty(property).GetString()!;

    [Theory]
    [MemberData(nameof(Files))]
    public void Each_majors_control_file_gives_what_its_server_said(string name)
    {
        var e = Expected(name);
        var major = int.Parse(Text(e, "Major"));
        var control = ControlData.Decode(File.ReadAllBytes(Path.Combine(Folder, name + ".bin")), major, name);
        Assert.Equal(Text(e, "State"), control["Database cluster state"]);
        Assert.Equal(Text(e, "SystemIdentifier"), control["Database system identifier"]);
        Assert.Equal(Text(e, "Checkpoint"), control["Latest checkpoint location"]);
        Assert.Equal(Text(e, "Timeline"), control["Latest checkpoint's TimeLineID"]);
        Assert.Equal(Text(e, "MinRecoveryPoint"), control["Minimum recovery ending location"]);
        Assert.Equal(Text(e, "MinRecoveryTimeline"), control["Min recovery ending loc's timeline"]);
        Assert.Equal(Text(e, "WalLogHints"), control["wal_log_hints setting"]);
        Assert.Equal(Text(e, "Checksums"), control["Data page checksum version"]);
        // Where pg_controldata of the major exists (Debian's 15), every field it prints the same.
        if (e.TryGetProperty("pg_controldata", out var printed))
            foreach (var (key, value) in ControlData.Decode(File.ReadAllBytes(Path.Combine(Folder, name + ".bin")), major, name))
                Assert.Equal(ControlDataParse(printed.GetString()!)[key], value);
    }

    private static Dictionary<string, string> ControlDataParse(string output) =>
        output.Split('\n').Where(l => l.Contains(':')).GroupBy(l => l[..l.IndexOf(':')].Trim())
            .ToDictionary(g => g.Key, g => g.First()[(g.First().IndexOf(':') + 1)..].Trim());

    [Fact]
    public void Every_supported_major_has_one_layout()
    {
        for (var major = VersionRules.OldestMajor; major <= VersionRules.NewestMajor; major++)
        {
            Assert.Single(ControlFileLayouts.All, l => l.AppliesTo(major));
            Assert.True(File.Exists(Path.Combine(Folder, $"{major}-standby.bin")), $"no control file of PostgreSQL {major} to test its layout");
        }
    }

    [Fact]
    public void A_damaged_file_or_one_of_another_major_is_refused_not_guessed()
    {
        var file = File.ReadAllBytes(Path.Combine(Folder, "16-crashed.bin"));
        file[40] ^= 0x01; // a bit of the checkpoint copy's redo pointer
        var torn = Assert.Throws<RefusedException>(() => ControlData.Decode(file, 16, "db2:/data/global/pg_control"));
        Assert.Equal(ErrorReasons.ControlFileUnreadable, torn.Reason);
        Assert.Contains("CRC", torn.Message);
        Assert.Contains("db2:/data/global/pg_control", torn.Message);
        var other = Assert.Throws<RefusedException>(() => ControlData.Decode(File.ReadAllBytes(Path.Combine(Folder, "12-crashed.bin")), 13, "db2"));
        Assert.Contains("pg_control version 1201, not 1300", other.Message);
        Assert.Equal(ErrorReasons.ControlFileUnreadable,
            Assert.Throws<RefusedException>(() => ControlData.Decode(new byte[100], 16, "db2")).Reason);
    }

    [Fact]
    public void The_hexadecimal_dump_of_a_host_is_read_as_pg_controldata_would_print_it()
    {
        var bytes = File.ReadAllBytes(Path.Combine(Folder, "10-standby.bin"));
        var od = new StringBuilder(HexDump(bytes, 10));
        var node = new PgNode("db1") { DataDirectory = "/srv/pg10" };
        var control = ControlData.FromOutput(od.ToString(), node);
        Assert.Equal("shut down in recovery", control["Database cluster state"]);
        Assert.Equal(ControlData.Decode(bytes, 10, "x"), control);
        // pg_controldata's own output goes through as it was printed.
        Assert.Equal("shut down", ControlData.FromOutput("Database cluster state:               shut down\n", node)["Database cluster state"]);
    }

    private static string HexDump(byte[] bytes, int major)
    {
        var od = new StringBuilder($"--pg_control {major}\n");
        foreach (var row in bytes.Chunk(16)) od.Append(' ').AppendJoin(' ', row.Select(b => b.ToString("x2"))).Append('\n');
        return od.ToString();
    }

    [Fact]
    public void The_data_directory_guard_reads_the_identity_and_timeline_from_the_file_where_no_pg_controldata_is()
    {
        var bytes = File.ReadAllBytes(Path.Combine(Folder, "17-crashed.bin"));
        var sysid = Text(Expected("17-crashed"), "SystemIdentifier");
        var head = "boot=b\nmntns=m\ninode=1:2\nreal=/srv/pg17\ninuse=1\npg_version=17\ncontrol=1\npid=9\nport=5432\n" +
                   $"raw_sysid={sysid}\nraw_state=6\n";
        var identity = DataDirectoryGuard.Parse(head + HexDump(bytes, 17), "db1", "/srv/pg17");
        Assert.Equal(DataDirectoryKind.Stopped, identity.Kind);
        Assert.Equal(sysid, identity.SystemIdentifier);
        Assert.Equal("in production", identity.ClusterState);
        Assert.Equal(int.Parse(Text(Expected("17-crashed"), "Timeline")), identity.Timeline);
        // A torn file: the identity the script read raw still stands, the timeline is not guessed.
        bytes[60] ^= 0xFF;
        var torn = DataDirectoryGuard.Parse(head + HexDump(bytes, 17), "db1", "/srv/pg17");
        Assert.Equal(sysid, torn.SystemIdentifier);
        Assert.Null(torn.Timeline);
    }

    [Fact]
    public void A_rejoin_without_pg_rewind_on_the_host_refuses_naming_it_unless_a_new_copy_is_allowed()
    {
        var node = new PgNode("10.0.0.1") { Name = "db1", ServerVersion = new Version(17, 10) };
        var refused = Assert.Throws<RejoinRefusedException>(() => Rejoin.WithoutRewindProgram(node, "10.0.0.1", "/opt/pg17/bin/pg_rewind", allowReclone: false));
        Assert.Equal(ErrorReasons.RewindProgramMissing, refused.Reason);
        Assert.Contains("10.0.0.1 has no /opt/pg17/bin/pg_rewind", refused.Message);
        Assert.Contains("Nothing was changed", refused.Message);
        Assert.Contains("-AllowReclone", refused.Message);
        Assert.Contains("PostgreSQL 17", Rejoin.WithoutRewindProgram(node, "10.0.0.1", "/opt/pg17/bin/pg_rewind", allowReclone: true));
    }
}
