using System.Text.RegularExpressions;
using PgReplication.Core.Hosts;
using PgReplication.Core.Model;

namespace PgReplication.Core.Operations;

/// <summary>pg_controldata of a node's data directory: the state a stopped server left behind.</summary>
public static class ControlData
{
    /// <summary>Its "Name: value" lines, e.g. ["Database cluster state"] = "shut down".</summary>
    public static Dictionary<string, string> Read(PgNode node, IHostShell shell)
    {
        var r = shell.Run(new HostCommand(RemotePath.Join(ServerController.BinDirectory(node, shell), "pg_controldata"), node.DataDirectory!)
        { RunAs = node.OsUser, Timeout = TimeSpan.FromSeconds(30) }).EnsureSuccess();
        return Parse(r.StandardOutput);
    }

    /// <summary>pg_controldata's output as "Name" to value.</summary>
    internal static Dictionary<string, string> Parse(string output) =>
        output.Split('\n').Select(l => Regex.Match(l, @"^([^:]+):\s+(.*)$")).Where(m => m.Success)
            .GroupBy(m => m.Groups[1].Value.Trim()).ToDictionary(g => g.Key, g => g.First().Groups[2].Value.Trim());
}
