using PgReplication.Core.Model;
using PgReplication.Core.Operations;

namespace PgReplication.Core.Hosts;

/// <summary>Opens the shell through which a node's host is reached: here, or over SSH.</summary>
public static class HostShells
{
    public static IHostShell Open(PgNode node, IOperationLog log)
    {
        return node.Access switch
        {
            HostAccess.Local => new LocalShell(node.ComputerName),
            HostAccess.Ssh => throw new NotSupportedException(
                $"{node.Name} is reached over SSH, which this build cannot do yet."),
            _ => throw new ArgumentOutOfRangeException(nameof(node)),
        };
    }
}
