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

    /// <summary>A byte position as PostgreSQL's pg_lsn text (e.g. 0/3000060).</summary>
    public static string Format(ulong lsn) =>
        $"{(lsn >> 32).ToString("X", CultureInfo.InvariantCulture)}/{(lsn & 0xFFFFFFFF).ToString("X", CultureInfo.InvariantCulture)}";
}
