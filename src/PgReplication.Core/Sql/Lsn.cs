using System.Globalization;

namespace PgReplication.Core.Sql;

/// <summary>PostgreSQL's pg_lsn text form "16/B374D848" as a number of bytes.</summary>
public static class Lsn
{
    public static ulong? Parse(string? text)
    {
        if (string.IsNullOrEmpty(text)) return null;
        var slash = text.IndexOf('/');
        if (slash <= 0) return null;
        return ulong.TryParse(text.AsSpan(0, slash), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var high)
            && uint.TryParse(text.AsSpan(slash + 1), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var low)
            ? (high << 32) | low : null;
    }

    /// <summary>Bytes from <paramref name="behind"/> to <paramref name="ahead"/>, never negative; null when either is unknown.</summary>
    public static long? Distance(string? ahead, string? behind) =>
        Parse(ahead) is { } a && Parse(behind) is { } b ? (long)(a > b ? a - b : 0) : null;

    /// <summary>
    /// The number of the WAL segment holding <paramref name="lsn"/>, and of a segment file name
    /// (TTTTTTTTLLLLLLLLSSSSSSSS: timeline, then log and segment, each 8 hex digits), whatever its timeline.
    /// </summary>
    public static ulong Segment(ulong lsn, long segmentBytes) => lsn / (ulong)segmentBytes;

    public static ulong? SegmentOfFile(string? walFileName, long segmentBytes)
    {
        if (walFileName is not { Length: 24 } ||
            !uint.TryParse(walFileName.AsSpan(8, 8), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var log) ||
            !uint.TryParse(walFileName.AsSpan(16, 8), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var seg))
            return null;
        return log * (0x1_0000_0000UL / (ulong)segmentBytes) + seg;
    }

    /// <summary>A byte position as PostgreSQL's pg_lsn text (e.g. 0/3000060).</summary>
    public static string Format(ulong lsn) =>
        $"{(lsn >> 32).ToString("X", CultureInfo.InvariantCulture)}/{(lsn & 0xFFFFFFFF).ToString("X", CultureInfo.InvariantCulture)}";
}
