using System.Text;
using PgReplication.Core.Config;
using PgReplication.Core.Hosts;

namespace PgReplication.Core.Operations;

/// <summary>
/// The one writer of a settings file edited on the host rather than through the server (postgresql.auto.conf of a
/// copy that has not started, recovery.conf before 12): read, changed by <see cref="OfflineSettings.Apply"/>, written
/// whole as the node's OS user, 0600 like the files PostgreSQL writes itself, only when it changes.
/// </summary>
public static class SettingsFile
{
    /// <summary>
    /// Applies <paramref name="changes"/> (a null value removes the setting) to <paramref name="path"/>; a missing file
    /// is empty. <paramref name="currentText"/>: the text as read for a plan, so what is written is what was planned.
    /// <paramref name="backupSuffix"/>: the old copy is kept under the path plus it. Returns whether the file was written.
    /// </summary>
    public static bool Update(IHostShell shell, string path, string osUser, IReadOnlyDictionary<string, string?> changes,
        string? currentText = null, string? backupSuffix = null, bool rewriteUnchanged = false)
    {
        var text = currentText ?? HostFiles.ReadTextOrEmpty(shell, path, osUser);
        var updated = changes.Count > 0 ? OfflineSettings.Apply(text, changes) : text;
        if (updated == text && !rewriteUnchanged) return false;
        HostFiles.Write(shell, path, Encoding.UTF8.GetBytes(updated), "0600", osUser, backupSuffix);
        return true;
    }
}
