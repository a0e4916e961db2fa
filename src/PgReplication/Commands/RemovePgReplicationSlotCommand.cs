using System.Management.Automation;
using PgReplication.Core.Model;
using PgReplication.Core.Operations;

namespace PgReplication.Commands;

/// <summary>Drops replication slots: an inactive one at once, an active one only with -Force (its WAL sender is ended first).</summary>
[Cmdlet(VerbsCommon.Remove, "PgReplicationSlot", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High, DefaultParameterSetName = "ByName")]
[OutputType(typeof(PgNode))]
public sealed class RemovePgReplicationSlotCommand : PgCmdlet
{
    /// <summary>The node that holds the slots.</summary>
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = "ByName")]
    [PgNodeTransformation]
    [ArgumentCompleter(typeof(NodeNameCompleter))]
    public PgNode InputObject { get; set; } = null!;

    [Parameter(Mandatory = true, Position = 1, ParameterSetName = "ByName")]
    [ArgumentCompleter(typeof(SlotNameCompleter))]
    [ValidateNotNullOrEmpty]
    public string[] Name { get; set; } = Array.Empty<string>();

    /// <summary>Slots as Get-PgReplicationSlot gives them.</summary>
    [Parameter(Mandatory = true, ValueFromPipeline = true, ParameterSetName = "BySlot")]
    public ReplicationSlotInfo[] Slot { get; set; } = Array.Empty<ReplicationSlotInfo>();

    /// <summary>Also drop a slot in use: its WAL sender is ended first, and the standby it served stops receiving WAL.</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    protected override void ProcessRecord()
    {
        var targets = ParameterSetName == "BySlot"
            ? Slot.Where(s => s.SourceNode is not null).GroupBy(s => s.SourceNode!).Select(g => (Node: g.Key, Names: g.Select(s => s.SlotName).ToArray()))
            : new[] { (Node: InputObject, Names: Name) };
        foreach (var bad in Slot.Where(s => s.SourceNode is null))
            WriteNodeError(new ArgumentException($"The slot {bad.SlotName} carries no node: pipe it from Get-PgReplicationSlot."), "SlotWithoutNode", bad);
        foreach (var (node, names) in targets)
        {
            foreach (var name in names)
            {
                try { SlotNames.Validate(name); }
                catch (ArgumentException ex) { ThrowArgumentError($"On {node.Name}: {ex.Message}", "BadSlotName", name); }
            }
            try
            {
                var slots = RunCore(log => ReplicationSlots.List(node, Array.Empty<(PgNode, string)>(), log));
                foreach (var name in names)
                {
                    try
                    {
                        var slot = slots.FirstOrDefault(s => s.SlotName == name);
                        var step = ReplicationSlots.DecideDrop(node.Name, name, slot, node.Database, Force);
                        if (step.Action == SlotDropAction.None)
                        {
                            WriteVerbose(step.Description + ".");
                            continue;
                        }
                        if (!ShouldProcessPlan($"Slot {name} on {node.Name}", $"Drop the slot {name} on {node.Name}?", new[] { step.Description }, "Remove-PgReplicationSlot"))
                            continue;
                        RunCore(log => ReplicationSlots.Drop(node, step, slot!.Database, log));
                    }
                    catch (SlotRefusedException ex)
                    {
                        WriteNodeError(ex, ex.Reason, node, ErrorCategory.InvalidOperation);
                    }
                }
                WriteObject(node);
            }
            catch (Exception ex) when (ex is not PipelineStoppedException)
            {
                WriteNodeError(ex, "SlotRemoveFailed", node);
            }
        }
    }
}
