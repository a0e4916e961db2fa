namespace PgReplication.Core;

/// <summary>
/// Paths on the hosts the module manages, which are POSIX whatever runs the module: System.IO.Path would join with '\'
/// on a Windows workstation. Same rules as Path.Combine on Linux: a rooted part starts the path again.
/// </summary>
public static class RemotePath
{
    public static string Join(params string[] parts)
    {
        var path = "";
        foreach (var part in parts)
        {
            ArgumentNullException.ThrowIfNull(part);
            if (part.Length == 0) continue;
            path = part.StartsWith('/') || path.Length == 0 ? part
                : path.EndsWith('/') ? path + part : path + "/" + part;
        }
        return path;
    }

    /// <summary>The folder part of a host path ("/a/b" gives "/a", "/a" gives "/"), or null for a bare name.</summary>
    public static string? Parent(string path)
    {
        var trimmed = path.Length > 1 ? path.TrimEnd('/') : path;
        var slash = trimmed.LastIndexOf('/');
        return slash < 0 ? null : slash == 0 ? "/" : trimmed[..slash];
    }
}
