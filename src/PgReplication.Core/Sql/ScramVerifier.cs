using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace PgReplication.Core.Sql;

/// <summary>
/// SCRAM-SHA-256 password verifiers computed on the client, as psql's \password does, so the
/// plain password never reaches the server (RFC 5802, RFC 7677; PostgreSQL's scram_build_secret):
/// <c>SCRAM-SHA-256$&lt;iterations&gt;:&lt;salt&gt;$&lt;StoredKey&gt;:&lt;ServerKey&gt;</c>, all base64.
/// </summary>
public static class ScramVerifier
{
    /// <summary>PostgreSQL's default (scram_iterations, 16+), and its fixed count before 16.</summary>
    public const int DefaultIterations = 4096;
    public const int SaltLength = 16;
    private const string Prefix = "SCRAM-SHA-256$";

    /// <summary>Computes a verifier; a random 16-byte salt unless <paramref name="salt"/> is given (tests).</summary>
    public static string Compute(string password, byte[]? salt = null, int iterations = DefaultIterations)
    {
        ArgumentNullException.ThrowIfNull(password);
        if (iterations < 1) throw new ArgumentOutOfRangeException(nameof(iterations));
        salt ??= RandomNumberGenerator.GetBytes(SaltLength);
        var (storedKey, serverKey) = Keys(password, salt, iterations);
        return Prefix + iterations.ToString(CultureInfo.InvariantCulture) + ":" + Convert.ToBase64String(salt) + "$" +
               Convert.ToBase64String(storedKey) + ":" + Convert.ToBase64String(serverKey);
    }

    /// <summary>True when <paramref name="verifier"/> (pg_authid.rolpassword) is a SCRAM verifier of <paramref name="password"/>.</summary>
    public static bool Matches(string? verifier, string password)
    {
        if (!TryParse(verifier, out var iterations, out var salt, out var storedKey, out var serverKey)) return false;
        var (s, k) = Keys(password, salt, iterations);
        return CryptographicOperations.FixedTimeEquals(s, storedKey) && CryptographicOperations.FixedTimeEquals(k, serverKey);
    }

    /// <summary>True when the text has the shape of a SCRAM-SHA-256 verifier (not a plain or md5 password).</summary>

    public static bool TryParse(string? verifier, out int iterations, out byte[] salt, out byte[] storedKey, out byte[] serverKey)
    {
        iterations = 0; salt = storedKey = serverKey = Array.Empty<byte>();
        if (verifier is null || !verifier.StartsWith(Prefix, StringComparison.Ordinal)) return false;
        var parts = verifier[Prefix.Length..].Split('$');
        if (parts.Length != 2) return false;
        var head = parts[0].Split(':');
        var keys = parts[1].Split(':');
        if (head.Length != 2 || keys.Length != 2) return false;
        if (!int.TryParse(head[0], NumberStyles.None, CultureInfo.InvariantCulture, out iterations) || iterations < 1) return false;
        try
        {
            salt = Convert.FromBase64String(head[1]);
            storedKey = Convert.FromBase64String(keys[0]);
            serverKey = Convert.FromBase64String(keys[1]);
        }
        catch (FormatException) { return false; }
        return storedKey.Length == 32 && serverKey.Length == 32;
    }

    /// <summary>StoredKey = H(HMAC(SaltedPassword, "Client Key")), ServerKey = HMAC(SaltedPassword, "Server Key").</summary>
    internal static (byte[] StoredKey, byte[] ServerKey) Keys(string password, byte[] salt, int iterations)
    {
        var salted = SaltedPassword(password, salt, iterations);
        var clientKey = HMACSHA256.HashData(salted, "Client Key"u8);
        var serverKey = HMACSHA256.HashData(salted, "Server Key"u8);
        return (SHA256.HashData(clientKey), serverKey);
    }

    /// <summary>Hi(Normalize(password), salt, i): PBKDF2 with HMAC-SHA-256, one 32-byte block.</summary>
    internal static byte[] SaltedPassword(string password, byte[] salt, int iterations) =>
        Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(SaslPrep(password)), salt, iterations, HashAlgorithmName.SHA256, 32);

    /// <summary>
    /// SASLprep (RFC 4013) as PostgreSQL's pg_saslprep applies it: ASCII passwords are used as
    /// they are; otherwise non-ASCII spaces become a space, characters "mapped to nothing" are
    /// removed and the result is NFKC-normalised. Where the result would contain a prohibited
    /// character (or fail the bidi rule), PostgreSQL uses the password unchanged, and so do we.
    /// </summary>
    public static string SaslPrep(string password)
    {
        ArgumentNullException.ThrowIfNull(password);
        if (password.All(c => c < 0x80)) return password;
        var mapped = new StringBuilder(password.Length);
        foreach (var rune in password.EnumerateRunes())
        {
            if (IsMappedToNothing(rune.Value)) continue;
            if (IsNonAsciiSpace(rune.Value)) { mapped.Append(' '); continue; }
            mapped.Append(rune.ToString());
        }
        string normalized;
        try { normalized = mapped.ToString().Normalize(NormalizationForm.FormKC); }
        catch (ArgumentException) { return password; } // unpaired surrogate: not valid UTF-8 for PostgreSQL either
        if (normalized.Length == 0) return password;
        var runes = normalized.EnumerateRunes().ToList();
        if (runes.Any(r => IsProhibited(r.Value))) return password;
        // Bidi rule (RFC 3454 section 6): with any RandALCat character, none may be LCat and the first and last must be RandALCat.
        if (runes.Any(IsRandAL) && (runes.Any(IsL) || !IsRandAL(runes[0]) || !IsRandAL(runes[^1]))) return password;
        return normalized;
    }

    // RFC 3454 B.1.
    private static bool IsMappedToNothing(int c) =>
        c is 0x00AD or 0x034F or 0x1806 or 0x180B or 0x180C or 0x180D or 0x200B or 0x200C or 0x200D or 0x2060
            or >= 0xFE00 and <= 0xFE0F or 0xFEFF;

    // RFC 3454 C.1.2.
    private static bool IsNonAsciiSpace(int c) =>
        c is 0x00A0 or 0x1680 or >= 0x2000 and <= 0x200B or 0x202F or 0x205F or 0x3000;

    // RFC 3454 C.2 to C.9 (the tables RFC 4013 prohibits), by range.
    private static bool IsProhibited(int c) =>
        IsNonAsciiSpace(c)
        || c < 0x20 || c == 0x7F || c is >= 0x80 and <= 0x9F // control characters
        || c is 0x06DD or 0x070F or 0x180E or 0x200C or 0x200D or 0x2028 or 0x2029 or >= 0x2060 and <= 0x2063
            or >= 0x206A and <= 0x206F or 0xFEFF or >= 0xFFF9 and <= 0xFFFC or >= 0x1D173 and <= 0x1D17A
        || c is >= 0xE000 and <= 0xF8FF or >= 0xF0000 and <= 0xFFFFD or >= 0x100000 and <= 0x10FFFD // private use
        || c is >= 0xFDD0 and <= 0xFDEF || (c & 0xFFFE) == 0xFFFE // non-characters
        || c is >= 0xD800 and <= 0xDFFF // surrogates
        || c is 0xFFF9 or 0xFFFA or 0xFFFB or 0xFFFC or 0xFFFD // inappropriate for plain text / canonical representation
        || c is >= 0x2FF0 and <= 0x2FFB // ideographic description
        || c is 0x0340 or 0x0341 or 0x200E or 0x200F or >= 0x202A and <= 0x202E or 0x206A or 0x206B or 0x206C or 0x206D or 0x206E or 0x206F
        || c is 0xE0001 or >= 0xE0020 and <= 0xE007F; // tagging

    private static bool IsRandAL(Rune r) =>
        CharUnicodeInfo.GetUnicodeCategory(r.Value) is UnicodeCategory.OtherLetter && (r.Value is >= 0x0590 and <= 0x08FF or >= 0xFB1D and <= 0xFDFF or >= 0xFE70 and <= 0xFEFF);

    private static bool IsL(Rune r) =>
        !IsRandAL(r) && Rune.IsLetter(r) && !(r.Value is >= 0x0590 and <= 0x08FF);
}
