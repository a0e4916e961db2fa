using PgReplication.Core.Config;
using PgReplication.Core.Hosts;
using PgReplication.Core.Model;
using PgReplication.Core.Versions;

namespace PgReplication.Core.Operations;

/// <summary>
/// What makes a data directory start in recovery: standby.signal from 12, recovery.conf with
/// standby_mode = on before. A fenced primary gets it, so it can only come back as a standby.
/// </summary>
public static class StandbyMarker
{
    public static void Write(PgNode node, IHostShell shell, IOperationLog log)
    {
        var data = node.DataDirectory ?? throw new InvalidOperationException($"The data directory of {node.Name} is not known.");
        var major = node.MajorVersion ?? throw new InvalidOperationException($"The version of {node.Name} is not known.");
        if (StandbyConfigRules.UsesStandbySignal(major))
        {
            var signal = RemotePath.Join(data, VersionRules.StandbySignal);
            if (!HostFiles.Exists(shell, signal, node.OsUser)) HostFiles.Write(shell, signal, Array.Empty<byte>(), "0600", node.OsUser);
        }
        else
        {
            SettingsFile.Update(shell, HotStandby.RecoveryConfigFile(data, major), node.OsUser, new Dictionary<string, string?> { ["standby_mode"] = "on" });
        }
        log.Verbose($"{node.Name}: marked {data} as a standby ({(StandbyConfigRules.UsesStandbySignal(major) ? VersionRules.StandbySignal : "recovery.conf")}).");
    }

    /// <summary>The files in the data directory that make it start in recovery (standby.signal, recovery.signal, recovery.conf).</summary>
    public static IReadOnlyList<string> Present(PgNode node, IHostShell shell)
    {
        var data = node.DataDirectory ?? throw new InvalidOperationException($"The data directory of {node.Name} is not known.");
        return new[] { VersionRules.StandbySignal, "recovery.signal", "recovery.conf" }
            .Where(f => HostFiles.Exists(shell, RemotePath.Join(data, f), node.OsUser)).ToList();
    }
}
