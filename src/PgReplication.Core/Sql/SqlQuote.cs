using System.Text;

namespace PgReplication.Core.Sql;

/// <summary>Quoting for the few places where a value cannot be a bind parameter (utility statements).</summary>
public static class SqlQuote
{
    /// <summary>
    /// Quotes an identifier as PostgreSQL's quote_ident does when quoting is needed; we always quote,
    /// so the name is taken exactly as given (case and all).
    /// </summary>
    public static string Identifier(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (name.Length == 0) throw new ArgumentException("An identifier cannot be empty.", nameof(name));
        if (name.Contains('\0')) throw new ArgumentException("An identifier cannot contain a NUL character.", nameof(name));
        if (Encoding.UTF8.GetByteCount(name) > 63)
            throw new ArgumentException($"The identifier '{name}' is longer than PostgreSQL's 63 bytes.", nameof(name));
        return "\"" + name.Replace("\"", "\"\"") + "\"";
    }

    /// <summary>
    /// Quotes a string literal as PostgreSQL's quote_literal does: quotes doubled, and with a
    /// backslash present an E'' literal with backslashes doubled (right whatever standard_conforming_strings is).
    /// </summary>
    public static string Literal(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        if (value.Contains('\0')) throw new ArgumentException("A string literal cannot contain a NUL character.", nameof(value));
        var body = value.Replace("'", "''");
        if (value.Contains('\\'))
            return "E'" + body.Replace("\\", "\\\\") + "'";
        return "'" + body + "'";
    }
}
