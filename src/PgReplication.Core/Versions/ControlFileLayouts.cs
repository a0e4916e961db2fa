namespace PgReplication.Core.Versions;

/// <summary>
/// Where the fields the module reads sit in global/pg_control (ControlFileData in pg_control.h, x86-64 and other
/// 64-bit little-endian builds: 8-byte alignment of uint64 and double) for <see cref="FirstMajor"/> to
/// <see cref="LastMajor"/>, whose files carry <see cref="ControlVersion"/> at offset 8. The system identifier (0),
/// pg_control_version (8), state (16) and checkPoint (32) have not moved since 9.x. Offsets in bytes.
/// </summary>
public sealed record ControlFileLayout(int FirstMajor, int LastMajor, uint ControlVersion,
    int CheckPointTimeline, int MinRecoveryPoint, int MinRecoveryPointTimeline, int WalLogHints, int DataChecksumVersion, int Crc,
    string Source)
{
    public const int SystemIdentifier = 0;
    public const int PgControlVersion = 8;
    public const int State = 16;
    public const int CheckPoint = 32;

    public bool AppliesTo(int major) => major >= FirstMajor && major <= LastMajor;
}

/// <summary>
/// The layouts of pg_control per major, as data: what <c>ControlFile.Decode</c> reads where a host has no
/// pg_controldata of the cluster's major (the upstream server-only builds). Each was checked against real control files
/// of its majors (tests/PgReplication.Core.Tests/ControlFiles, made by tools/New-ControlFileFixtures.ps1).
/// </summary>
public static class ControlFileLayouts
{
    public static IReadOnlyList<ControlFileLayout> All { get; } = new ControlFileLayout[]
    {
        // 10: prevCheckPoint follows checkPoint, so the CheckPoint copy starts at 48; its nextXid is an epoch and a 32-bit xid.
        new(10, 10, 1002, 56, 136, 144, 176, 252, 288, "PostgreSQL 10 pg_control.h: prevCheckPoint, float4ByVal, PG_CONTROL_VERSION 1002"),
        // 11 removed prevCheckPoint (the checkpoint before the last is no longer kept): everything after moves up 8 bytes.
        new(11, 11, 1100, 48, 128, 136, 168, 244, 280, "PostgreSQL 11 release notes: prevCheckPoint removed from pg_control, PG_CONTROL_VERSION 1100"),
        // 12: CheckPoint's nextXid is a 64-bit FullTransactionId (8 bytes more), and max_wal_senders is recorded.
        new(12, 12, 1201, 48, 136, 144, 176, 252, 288, "PostgreSQL 12 pg_control.h: nextFullXid, max_wal_senders, PG_CONTROL_VERSION 1201"),
        // 13 removed float4ByVal: a byte of the padding before data_checksum_version, which keeps its offset.
        new(13, 16, 1300, 48, 136, 144, 176, 252, 288, "PostgreSQL 13 pg_control.h: float4ByVal removed, PG_CONTROL_VERSION 1300"),
        // 17 records wal_level in the CheckPoint copy, in the padding after fullPageWrites: nothing the module reads moves.
        new(17, 17, 1700, 48, 136, 144, 176, 252, 288, "PostgreSQL 17 pg_control.h: CheckPoint gains wal_level, PG_CONTROL_VERSION 1700"),
        // 18 records default_char_signedness after data_checksum_version: the nonce and the CRC move.
        new(18, 18, 1800, 48, 136, 144, 176, 252, 292, "PostgreSQL 18 pg_control.h: default_char_signedness, PG_CONTROL_VERSION 1800"),
    };

    /// <summary>The layout of <paramref name="major"/>'s control file, or null for a major this module does not know.</summary>
    public static ControlFileLayout? For(int major) => All.FirstOrDefault(l => l.AppliesTo(major));
}
