using System.Management.Automation;
using PgReplication.Core.Hosts;
using PgReplication.Core.Model;
using PgReplication.Core.Operations;

namespace PgReplication.Commands;

/// <summary>Re-points standbys to another upstream (a new primary, or a standby for a cascade) and checks they stream.</summary>
[Cmdlet(VerbsCommon.Set, "PgStandbyUpstream", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(PgNode))]
public sealed class SetPgStandbyUpstreamCommand : PgCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
    [PgNodeTransformation]
    [ArgumentCompleter(typeof(NodeNameCompleter))]
    [Alias("Standby")]
    public PgNode[] InputObject { get; set; } = Array.Empty<PgNode>();

    /// <summary>The node to follow.</summary>
    [Parameter(Mandatory = true)]
    [PgNodeTransformation]
    [ArgumentCompleter(typeof(NodeNameCompleter))]
    [Alias("Upstream")]
    public PgNode Primary { get; set; } = null!;

    /// <summary>The replication role; by default the one the standby already uses (from its passfile).</summary>
    [Parameter]
    [Credential]
    public PSCredential? Credential { get; set; }

    [Parameter]
    [ArgumentCompleter(typeof(SlotNameCompleter))]
    [ValidatePattern("^[a-z0-9_]{1,63}$")]
    public string? SlotName { get; set; }

    [Parameter]
    [ValidateRange(5, 24 * 3600)]
    public int TimeoutSeconds { get; set; } = 120;

    protected override void ProcessRecord()
    {
        if (SlotName is not null && InputObject.Length > 1)
            ThrowArgumentError("-SlotName names one slot, but several standbys were given.", "SlotForManyStandbys", SlotName);
        foreach (var standby in InputObject)
        {
            try
            {
                PgNode.ShareAdminCredential(Primary, standby);
                var request = new FollowRequest
                {
                    Standby = standby, Primary = Primary, Replication = RoleCredential(Credential) ?? standby.ReplicationCredential,
                    SlotName = SlotName, Timeout = TimeSpan.FromSeconds(TimeoutSeconds),
                };
                using var shell = RunCore(log => HostShells.Open(standby, log));
                var plan = RunCore(log => StandbyFollow.Prepare(request, shell, log));
                if (plan.ChangesNothing)
                {
                    WriteVerbose($"{standby.Name}: already follows {Primary.Name}; nothing to change.");
                    WriteObject(RunCore(log => StandbyFollow.Apply(plan, shell, log)));
                    continue;
                }
                if (!ShouldProcessPlan($"Upstream of {standby.Name}", $"Make {standby.Name} follow {Primary.Name}?", plan.Steps, "Set-PgStandbyUpstream"))
                    continue;
                WriteObject(RunCore(log => StandbyFollow.Apply(plan, shell, log)));
            }
            catch (Exception ex) when (ex is not PipelineStoppedException)
            {
                WriteNodeError(ex, "FollowFailed", standby);
            }
        }
    }
}
