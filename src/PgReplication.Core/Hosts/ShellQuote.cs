namespace PgReplication.Core.Hosts;

/// <summary>
/// The one place where an argument list becomes POSIX shell text (for SSH, whose protocol
/// carries a single command string). Every argument is single-quoted, so nothing in it is
/// interpreted: spaces, quotes, $, backticks, newlines and unicode all arrive as they were.
/// </summary>
public static class ShellQuote
{
    public static string Quote(string argument)
    {
        ArgumentNullException.ThrowIfNull(argument);
        if (argument.Contains('\0'))
            throw new ArgumentException("A command argument cannot contain a NUL character.", nameof(argument));
        if (argument.Length > 0 && argument.All(IsSafe))
            return argument;
        return "'" + argument.Replace("'", "'\\''") + "'";
    }

    public static string Join(string program, IEnumerable<string> arguments) =>
        string.Join(' ', new[] { program }.Concat(arguments).Select(Quote));

    // Characters that never need quoting in sh; everything else is quoted.
    private static bool IsSafe(char c) =>
        c is >= 'a' and <= 'z' or >= 'A' and <= 'Z' or >= '0' and <= '9' or '-' or '_' or '.' or '/' or ':' or ',' or '@' or '+' or '%';
}
