using System.Management.Automation;
using PgReplication.Core.Model;
using PgReplication.Core.Operations;

namespace PgReplication.Commands;

/// <summary>
/// Promotes the most advanced standby after its primary is lost, after checking that the old primary
/// is gone (or fencing it), and re-points the other standbys to the new primary: over SQL alone (ALTER SYSTEM and a
/// reload) when a running 13+ standby's passfile already serves the new primary with the password it uses now,
/// otherwise over SSH, which writes the passfile line it lacks.
/// </summary>
[Cmdlet(VerbsLifecycle.Invoke, "PgPromotion", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
[OutputType(typeof(PgNode))]
public sealed class InvokePgPromotionCommand : PgCmdlet
{
    /// <summary>The candidates: standbys of the lost primary.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
    [PgNodeTransformation]
    [ArgumentCompleter(typeof(NodeNameCompleter))]
    [Alias("Standby")]
    public PgNode[] InputObject { get; set; } = Array.Empty<PgNode>();

    /// <summary>The old primary, if known; otherwise the one the candidates' primary_conninfo names.</summary>
    [Parameter]
    [PgNodeTransformation]
    [ArgumentCompleter(typeof(NodeNameCompleter))]
    public PgNode? Primary { get; set; }

    /// <summary>Promote this candidate (Name or ComputerName) instead of the most advanced one.</summary>
    [Parameter]
    [ArgumentCompleter(typeof(NodeNameCompleter))]
    [ValidateNotNullOrEmpty]
    public string? Name { get; set; }

    /// <summary>More standbys to re-point to the new primary (e.g. ones that were not candidates).</summary>
    [Parameter]
    [PgNodeTransformation]
    [ArgumentCompleter(typeof(NodeNameCompleter))]
    public PgNode[] Sibling { get; set; } = Array.Empty<PgNode>();

    /// <summary>The replication role for the siblings; by default the one each already uses. Given, each is re-pointed over SSH, its password written to its passfile.</summary>
    [Parameter]
    [Credential]
    public PSCredential? Credential { get; set; }

    /// <summary>Stop the old primary if it answers and mark it as a standby, so it cannot come back as a second primary.</summary>
    [Parameter]
    public SwitchParameter FenceOldPrimary { get; set; }

    /// <summary>Promote even when the old primary answers, or the chosen candidate is behind another or not synchronous.</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    /// <summary>Also output the re-pointed siblings' nodes after the new primary.</summary>
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

    private readonly List<PgNode> _candidates = new();

    protected override void ProcessRecord() => _candidates.AddRange(InputObject);

    protected override void EndProcessing()
    {
        ValidateHook(OnPromoted);
        var request = new PromotionRequest
        {
            Candidates = _candidates.Distinct().ToList(), OldPrimary = Primary, Name = Name, Siblings = Sibling,
            Force = Force, FenceOldPrimary = FenceOldPrimary, Replication = RoleCredential(Credential),
            Timeout = TimeSpan.FromSeconds(TimeoutSeconds),
        };
        PromotionPlan plan;
        try { plan = RunStep(log => Promotion.Prepare(request, log), _candidates.FirstOrDefault()); }
        catch (ManagedByPatroniException managed)
        {
            // Found with the candidates' positions: Patroni fails over by itself, and a promotion behind its back would
            // fight its leader lock.
            HandOverToPatroni(managed);
            return;
        }

        var candidate = plan.Chosen.Node;
        if (!ShouldProcessPlan($"Promotion of {candidate.Name}", $"Promote {candidate.Name} to primary?", plan.Steps, "Invoke-PgPromotion"))
            return;

        var summary = RunStep(log => Promotion.Apply(request, plan, log), candidate);
        WritePromotionResult(candidate, plan.OldPrimary, summary, OnPromoted, IncludeSibling);
    }

    /// <summary>
    /// A step of the promotion: its failure ends the cmdlet, a refusal under its reason, anything else as PromotionFailed
    /// on <paramref name="node"/>. A cluster found to be Patroni's is the caller's to handle.
    /// </summary>
    private T RunStep<T>(Func<IOperationLog, T> work, PgNode? node)
    {
        try { return RunCore(work); }
        catch (PromotionRefusedException ex)
        {
            ThrowTerminatingError(NodeError(ex, ex.Reason, ex.Node, ErrorCategory.InvalidOperation));
            throw; // not reached: ThrowTerminatingError throws
        }
        catch (Exception ex) when (ex is not (PipelineStoppedException or ManagedByPatroniException))
        {
            ThrowTerminatingError(NodeError(ex, "PromotionFailed", node));
            throw;
        }
    }

    /// <summary>A cluster Patroni manages: refused without -Force; with it, Patroni is asked for the failover.</summary>
    private void HandOverToPatroni(ManagedByPatroniException managed)
    {
        var (node, marker) = ((PgNode)managed.Node!, managed.Marker);
        if (!Force)
        {
            ThrowTerminatingError(NodeError(new InvalidOperationException(managed.Message + " " +
                "Use Invoke-PgSwitchover for a planned change, -Force to ask Patroni for a failover to the chosen candidate, or Disable-PgAutoFailover first."),
                "ManagedByPatroni", node, ErrorCategory.InvalidOperation));
            return;
        }
        if (!ShouldProcess($"Patroni cluster {marker.Scope}", $"Ask Patroni for a failover to {Name ?? "the most advanced candidate"}?", "Invoke-PgPromotion"))
            return;
        var patroni = RunStep(log => PatroniControl.Failover(_candidates.Distinct().ToList(), Name, marker, TimeSpan.FromSeconds(TimeoutSeconds), log), node);
        var promoted = _candidates.First(c => c.Name == patroni.NewPrimary);
        WritePromotionResult(promoted, Primary, patroni, OnPromoted, IncludeSibling);
    }
}
