using System.Management.Automation;
using PgReplication.Core.Model;
using PgReplication.Core.Operations;

namespace PgReplication.Commands;

/// <summary>
/// Swaps the primary and one of its standbys with no lost transaction, turns the old primary into a
/// standby of the new one, and re-points the siblings.
/// </summary>
[Cmdlet(VerbsLifecycle.Invoke, "PgSwitchover", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
[OutputType(typeof(PgNode))]
public sealed class InvokePgSwitchoverCommand : PgCmdlet
{
    /// <summary>The standby that becomes the primary.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
    [PgNodeTransformation]
    [ArgumentCompleter(typeof(NodeNameCompleter))]
    [Alias("Standby")]
    public PgNode InputObject { get; set; } = null!;

    /// <summary>The current primary.</summary>
    [Parameter(Mandatory = true)]
    [PgNodeTransformation]
    [ArgumentCompleter(typeof(NodeNameCompleter))]
    public PgNode Primary { get; set; } = null!;

    /// <summary>Other standbys of the primary, re-pointed to the new one.</summary>
    [Parameter]
    [PgNodeTransformation]
    [ArgumentCompleter(typeof(NodeNameCompleter))]
    public PgNode[] Sibling { get; set; } = Array.Empty<PgNode>();

    [Parameter]
    [Credential]
    public PSCredential? Credential { get; set; }

    /// <summary>Refuse (changing nothing) when the standby is further behind than this.</summary>
    [Parameter]
    [ValidateRange(0, long.MaxValue)]
    public long MaxLagBytes { get; set; } = 16L * 1024 * 1024;

    [Parameter]
    [Alias("IncludeSiblings")]
    public SwitchParameter IncludeSibling { get; set; }

    /// <summary>A scriptblock ({ param($OldPrimary, $NewPrimary) ... }) or a command line (old and new as $1 and $2) run after the promotion.</summary>
    [Parameter]
    [ValidateNotNull]
    public object? OnPromoted { get; set; }

    [Parameter]
    [ValidateRange(5, 24 * 3600)]
    public int TimeoutSeconds { get; set; } = 120;

    protected override void ProcessRecord()
    {
        ValidateHook(OnPromoted);
        PgNode.ShareAdminCredential(Primary, InputObject);
        var request = new SwitchoverRequest
        {
            Primary = Primary, Standby = InputObject, Siblings = Sibling, MaxLagBytes = MaxLagBytes,
            Replication = RoleCredential(Credential), Timeout = TimeSpan.FromSeconds(TimeoutSeconds),
        };
        try
        {
            // Patroni manages the cluster: it switches over (same checks first), never the module behind its back.
            if (RunCore(log => PatroniControl.FindManaged(new[] { Primary, InputObject }, log)) is { } managed)
            {
                if (!ShouldProcess($"Patroni cluster {managed.Marker.Scope}", $"Ask Patroni to make {InputObject.Name} the primary and {Primary.Name} its standby?", "Invoke-PgSwitchover"))
                    return;
                var done = RunCore(log => PatroniControl.Switchover(request, managed.Marker, log));
                WritePromotionResult(InputObject, Primary, done, OnPromoted, IncludeSibling);
                return;
            }
            var plan = RunCore(log => Switchover.Prepare(request, log));
            if (!ShouldProcessPlan($"Switchover from {Primary.Name} to {InputObject.Name}", $"Make {InputObject.Name} the primary and {Primary.Name} its standby?", plan.Steps, "Invoke-PgSwitchover"))
                return;
            var summary = RunCore(log => Switchover.Apply(request, plan, log));
            WritePromotionResult(InputObject, Primary, summary, OnPromoted, IncludeSibling);
        }
        catch (PromotionRefusedException ex)
        {
            WriteError(NodeError(ex, ex.Reason, ex.Node, ErrorCategory.InvalidOperation));
        }
        catch (Exception ex) when (ex is not PipelineStoppedException)
        {
            WriteNodeError(ex, "SwitchoverFailed", InputObject);
        }
    }
}
