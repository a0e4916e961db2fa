using System.Management.Automation;
using PgReplication.Core.Model;
using PgReplication.Core.Operations;

namespace PgReplication.Commands;

/// <summary>Shows every given node of a cluster in one table: role, status, upstream, timeline, position and lag.</summary>
[Cmdlet(VerbsCommon.Get, "PgReplicationTopology")]
[OutputType(typeof(TopologyRow))]
public sealed class GetPgReplicationTopologyCommand : PgCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
    [PgNodeTransformation]
    [ArgumentCompleter(typeof(NodeNameCompleter))]
    public PgNode[] InputObject { get; set; } = Array.Empty<PgNode>();

    /// <summary>The admin role for nodes that carry none.</summary>
    [Parameter]
    [Credential]
    public PSCredential? Credential { get; set; }

    /// <summary>How long each node may take to answer; the nodes are asked at the same time.</summary>
    [Parameter]
    [ValidateRange(1, 3600)]
    public int TimeoutSeconds { get; set; } = 5;

    private readonly List<PgNode> _nodes = new();

    protected override void ProcessRecord() => _nodes.AddRange(InputObject);

    // The rows need every node at once: a node's upstream, depth and split brain depend on the others.
    protected override void EndProcessing()
    {
        var credential = RoleCredential(Credential);
        var nodes = _nodes.Distinct().ToList();
        foreach (var node in nodes) node.AdminCredential ??= credential;
        var rows = RunCore(log => Topology.Read(nodes, TimeSpan.FromSeconds(TimeoutSeconds), log));
        if (Topology.SplitBrainWarning(rows.Where(r => r.Status == TopologyRow.SplitBrain).Select(r => r.Name)) is { } warning)
            WriteWarning(warning);
        WriteObject(rows, enumerateCollection: true);
    }
}
