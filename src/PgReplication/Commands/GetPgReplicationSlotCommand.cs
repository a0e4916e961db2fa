using System.Management.Automation;
using PgReplication.Core.Model;
using PgReplication.Core.Operations;

namespace PgReplication.Commands;

/// <summary>Lists every replication slot of the nodes given, physical and logical, with the standby each serves.</summary>
[Cmdlet(VerbsCommon.Get, "PgReplicationSlot")]
[OutputType(typeof(ReplicationSlotInfo))]
public sealed class GetPgReplicationSlotCommand : PgCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
    [PgNodeTransformation]
    [ArgumentCompleter(typeof(NodeNameCompleter))]
    public PgNode[] InputObject { get; set; } = Array.Empty<PgNode>();

    /// <summary>The standbys the cluster should have: a slot is said to serve one when it is that standby's slot.</summary>
    [Parameter]
    [PgNodeTransformation]
    [ArgumentCompleter(typeof(NodeNameCompleter))]
    public PgNode[] Standby { get; set; } = Array.Empty<PgNode>();

    /// <summary>Only the slots of these names (wildcards allowed).</summary>
    [Parameter(Position = 1)]
    [ArgumentCompleter(typeof(SlotNameCompleter))]
    [SupportsWildcards]
    public string[] Name { get; set; } = Array.Empty<string>();

    private readonly List<PgNode> _nodes = new();

    protected override void ProcessRecord() => _nodes.AddRange(InputObject);

    protected override void EndProcessing()
    {
        var patterns = Name.Select(n => WildcardPattern.Get(n, WildcardOptions.IgnoreCase)).ToList();
        PgNode.ShareAdminCredential(_nodes.Take(1).Concat(Standby).ToArray());
        var standbySlots = RunCore(log => Standby.Select(s => (Standby: s, Slot: ReplicationSlots.SlotOfStandby(s, log)))
            .Where(p => p.Slot is not null).Select(p => (p.Standby, p.Slot!)).ToList());
        foreach (var node in _nodes.Distinct())
        {
            try
            {
                var slots = RunCore(log => ReplicationSlots.List(node, standbySlots, log));
                foreach (var slot in slots.Where(s => patterns.Count == 0 || patterns.Any(p => p.IsMatch(s.SlotName))))
                    WriteObject(slot);
            }
            catch (Exception ex) when (ex is not PipelineStoppedException)
            {
                WriteNodeError(ex, "SlotsUnreadable", node);
            }
        }
    }
}
