using System.Buffers.Binary;
using System.Globalization;
using System.Text.RegularExpressions;
using PgReplication.Core.Hosts;
using PgReplication.Core.Model;
using PgReplication.Core.Versions;

namespace PgReplication.Core.Operations;

/// <summary>
/// The control file of a node's data directory: the state a stopped server left behind. Read by the host's
/// pg_controldata of the cluster's major, or, where the host has none (server-only builds), from global/pg_control
/// itself, decoded with the major's layout (<see cref="ControlFileLayouts"/>) and its CRC checked.
/// </summary>
public static class ControlData
{
    // $1 program folder, $2 data directory. pg_controldata's own output, or the major and the first 512 bytes of the file
    // (ControlFileData fits in them: PG_CONTROL_MAX_SAFE_SIZE) as hexadecimal.
    private const string ReadScript = """
        if [ -x "$1/pg_controldata" ]; then exec "$1/pg_controldata" "$2"; fi
        echo "--pg_control $(head -n 1 -- "$2/PG_VERSION")"
        exec od -An -v -tx1 -N 512 -- "$2/global/pg_control"
        """;

    /// <summary>Its "Name: value" lines in pg_controldata's words, e.g. ["Database cluster state"] = "shut down".</summary>
    public static Dictionary<string, string> Read(PgNode node, IHostShell shell)
    {
        var r = shell.Run(new HostCommand("sh", "-c", ReadScript, "sh", ServerController.BinDirectory(node, shell), node.DataDirectory!)
        { RunAs = node.OsUser, Timeout = TimeSpan.FromSeconds(30) }).EnsureSuccess();
        return FromOutput(r.StandardOutput, node);
    }

    /// <summary>What <see cref="ReadScript"/> printed: pg_controldata's lines, or the decoded file.</summary>
    internal static Dictionary<string, string> FromOutput(string output, PgNode node)
    {
        if (!output.StartsWith("--pg_control", StringComparison.Ordinal)) return Parse(output);
        var newline = output.IndexOf('\n');
        var majorText = output[12..(newline < 0 ? output.Length : newline)].Trim();
        var hex = newline < 0 ? "" : output[(newline + 1)..];
        var bytes = Convert.FromHexString(string.Concat(hex.Where(Uri.IsHexDigit)));
        if (!int.TryParse(majorText, NumberStyles.None, CultureInfo.InvariantCulture, out var major))
            throw new RefusedException(ErrorReasons.ControlFileUnreadable, $"{node.Name}: {node.DataDirectory}/PG_VERSION does not name a major ('{majorText}'): its control file cannot be read.", node);
        return Decode(bytes, major, $"{node.Name}:{node.DataDirectory}/global/pg_control", node);
    }

    /// <summary>pg_controldata's output as "Name" to value.</summary>
    internal static Dictionary<string, string> Parse(string output) =>
        output.Split('\n').Select(l => Regex.Match(l, @"^([^:]+):\s+(.*)$")).Where(m => m.Success)
            .GroupBy(m => m.Groups[1].Value.Trim()).ToDictionary(g => g.Key, g => g.First().Groups[2].Value.Trim());

    // DBState, in pg_controldata's words (the enum has kept its order since 9.x).
    internal static readonly string[] StateNames =
        { "starting up", "shut down", "shut down in recovery", "shutting down", "in crash recovery", "in archive recovery", "in production" };

    /// <summary>
    /// The fields the module reads, from the bytes of a control file of <paramref name="major"/>, under pg_controldata's
    /// names. Refuses a file whose version is not the major's layout's or whose CRC-32C does not match (a torn write, a
    /// file of another build): a guess at a checkpoint is worse than no answer.
    /// </summary>
    public static Dictionary<string, string> Decode(byte[] file, int major, string where, PgNode? node = null)
    {
        var layout = ControlFileLayouts.For(major)
            ?? throw new RefusedException(ErrorReasons.ControlFileUnreadable, $"{where}: no control file layout is known for PostgreSQL {major}.", node);
        if (file.Length < layout.Crc + 4)
            throw new RefusedException(ErrorReasons.ControlFileUnreadable, $"{where} is {file.Length} bytes, too short for a PostgreSQL {major} control file.", node);
        var version = BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(ControlFileLayout.PgControlVersion));
        if (version != layout.ControlVersion)
            throw new RefusedException(ErrorReasons.ControlFileUnreadable,
                $"{where} has pg_control version {version}, not {layout.ControlVersion} as PostgreSQL {major}'s: it is not read without that major's pg_controldata.", node);
        var stored = BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(layout.Crc));
        var computed = Crc32C.Compute(file.AsSpan(0, layout.Crc));
        if (stored != computed)
            throw new RefusedException(ErrorReasons.ControlFileUnreadable,
                $"{where}: its CRC is {stored:X8} but its contents give {computed:X8} (a torn or damaged control file): nothing is decided from it.", node);

        uint U32(int offset) => BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(offset));
        ulong U64(int offset) => BinaryPrimitives.ReadUInt64LittleEndian(file.AsSpan(offset));
        static string Lsn(ulong v) => $"{v >> 32:X}/{(uint)v:X}";
        var state = U32(ControlFileLayout.State);
        return new Dictionary<string, string>
        {
            ["pg_control version number"] = version.ToString(CultureInfo.InvariantCulture),
            ["Database system identifier"] = U64(ControlFileLayout.SystemIdentifier).ToString(CultureInfo.InvariantCulture),
            ["Database cluster state"] = state < StateNames.Length ? StateNames[state] : "unrecognized status code",
            ["Latest checkpoint location"] = Lsn(U64(ControlFileLayout.CheckPoint)),
            ["Latest checkpoint's TimeLineID"] = U32(layout.CheckPointTimeline).ToString(CultureInfo.InvariantCulture),
            ["Minimum recovery ending location"] = Lsn(U64(layout.MinRecoveryPoint)),
            ["Min recovery ending loc's timeline"] = U32(layout.MinRecoveryPointTimeline).ToString(CultureInfo.InvariantCulture),
            ["wal_log_hints setting"] = file[layout.WalLogHints] != 0 ? "on" : "off",
            ["Data page checksum version"] = U32(layout.DataChecksumVersion).ToString(CultureInfo.InvariantCulture),
        };
    }
}

/// <summary>CRC-32C (Castagnoli, reflected 0x82F63B78), as PostgreSQL's pg_crc32c: initial and final XOR 0xFFFFFFFF.</summary>
internal static class Crc32C
{
    private static readonly uint[] Table = Enumerable.Range(0, 256).Select(i =>
    {
        var c = (uint)i;
        for (var k = 0; k < 8; k++) c = (c & 1) != 0 ? 0x82F63B78u ^ (c >> 1) : c >> 1;
        return c;
    }).ToArray();

    public static uint Compute(ReadOnlySpan<byte> data)
    {
        var crc = 0xFFFFFFFFu;
        foreach (var b in data) crc = Table[(crc ^ b) & 0xFF] ^ (crc >> 8);
        return crc ^ 0xFFFFFFFFu;
    }
}
