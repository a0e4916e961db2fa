using System.Management.Automation;
using PgReplication.Core;
using PgReplication.Core.Model;
using PgReplication.Core.Operations;

namespace PgReplication.Commands;

/// <summary>What Suspend-, Resume-PgStandbyReplay and Set-PgStandbyDelay share: read, decide, ask, apply, output the node.</summary>
public abstract class StandbyReplayCommand : PgCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
    [PgNodeTransformation]
    [ArgumentCompleter(typeof(NodeNameCompleter))]
    [Alias("Standby")]
    public PgNode[] InputObject { get; set; } = Array.Empty<PgNode>();

    /// <summary>How long a restart (before 12, for a delay) may take.</summary>
    [Parameter]
    [ValidateRange(5, 3600)]
    public int TimeoutSeconds { get; set; } = 60;

    protected void Change(bool? pause, TimeSpan? applyDelay, string caption)
    {
        foreach (var standby in InputObject)
        {
            try
            {
                var facts = RunCore(log => StandbyReplay.Read(standby, log));
                var plan = StandbyReplay.Decide(facts, pause, applyDelay);
                if (plan.ChangesNothing)
                    WriteVerbose($"{standby.Name}: replay is already {(facts.Paused ? "paused" : "running")} with an apply delay of {StandbyReplay.Describe(facts.ApplyDelay)}; nothing to change.");
                else if (!ShouldProcessPlan($"Replay of {standby.Name}", $"Change the WAL replay of {standby.Name}?", plan.Steps, caption))
                    continue;
                else
                {
                    // Patroni manages the cluster: the delay goes into the member's Patroni configuration, with the nofailover tag.
                    var managed = plan.ApplyDelay is null ? null : RunCore(log => PatroniControl.FindManaged(new[] { standby }, log));
                    var timeout = TimeSpan.FromSeconds(TimeoutSeconds);
                    RunCore(log => StandbyReplay.Apply(standby, plan, log, timeout,
                        managed is { } m ? delay => PatroniControl.SetApplyDelay(standby, m.Marker, delay, timeout, log) : null));
                }
                WriteObject(standby);
            }
            catch (ReplayRefusedException ex) when (ex.Reason == ErrorReasons.BadApplyDelay)
            {
                ThrowArgumentError(ex.Message, ex.Reason, applyDelay);
            }
            catch (ReplayRefusedException ex)
            {
                WriteNodeError(ex, ex.Reason, standby, ErrorCategory.InvalidOperation);
            }
            catch (Exception ex) when (ex is not PipelineStoppedException)
            {
                WriteNodeError(ex, "ReplayChangeFailed", standby);
            }
        }
    }
}
