namespace PgReplication;

/// <summary>
/// Text for a wrapping table column, broken at spaces or after , ; &amp; / _ : PowerShell's own wrapping cuts
/// at the column width, mid-word. The views in PgReplication.format.ps1xml call it with each column's width.
/// </summary>
public static class TableText
{
    public static string? Wrap(string? text, int width)
    {
        if (text is null || width < 1 || text.Length <= width) return text;
        var lines = new List<string>();
        var rest = text;
        while (rest.Length > width)
        {
            var cut = BreakAt(rest, width);
            lines.Add(rest[..cut].TrimEnd());
            rest = rest[cut..].TrimStart();
        }
        lines.Add(rest);
        return string.Join("\n", lines);
    }

    /// <summary>The length of the next line: at most width, at the last break in its second half, else width.</summary>
    private static int BreakAt(string text, int width)
    {
        for (var length = width; length > width / 2; length--)
        {
            if (text[length] == ' ' || text[length - 1] is ',' or ';' or '&' or '/' or '_') return length;
        }
        return width;
    }
}
