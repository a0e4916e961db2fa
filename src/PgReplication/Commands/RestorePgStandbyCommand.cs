using System.Management.Automation;
using PgReplication.Core.Hosts;
using PgReplication.Core.Model;
using PgReplication.Core.Operations;

namespace PgReplication.Commands;

/// <summary>Brings a former primary back as a standby of the new one: pg_rewind, or a new base backup with -Reclone.</summary>
[Cmdlet(VerbsData.Restore, "PgStandby", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
[OutputType(typeof(PgNode))]
public sealed class RestorePgStandbyCommand : PgCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
    [PgNodeTransformation]
    [ArgumentCompleter(typeof(NodeNameCompleter))]
    public PgNode[] InputObject { get; set; } = Array.Empty<PgNode>();

    /// <summary>The primary to follow.</summary>
    [Parameter(Mandatory = true)]
    [PgNodeTransformation]
    [ArgumentCompleter(typeof(NodeNameCompleter))]
    public PgNode Primary { get; set; } = null!;

    /// <summary>The replication role; by default the one the new primary used while it was a standby.</summary>
    [Parameter]
    [Credential]
    public PSCredential? Credential { get; set; }

    /// <summary>The node's data directory, where it cannot be discovered (the node is down). Never guessed.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? DataDirectory { get; set; }

    /// <summary>Replace the data directory with a new base backup instead of pg_rewind.</summary>
    [Parameter]
    public SwitchParameter Reclone { get; set; }

    /// <summary>Take a new base backup when pg_rewind fails, or when an interrupted rewind left the directory half-rewound.</summary>
    [Parameter]
    public SwitchParameter AllowReclone { get; set; }

    [Parameter]
    [ValidateRange(10, 7 * 24 * 3600)]
    public int TimeoutSeconds { get; set; } = 600;

    protected override void ProcessRecord()
    {
        foreach (var node in InputObject)
        {
            try
            {
                PgNode.ShareAdminCredential(node, Primary);
                // Patroni manages the cluster: it rejoins members by itself (pg_rewind); what is left is its reinitialisation.
                if (RunCore(log => PatroniControl.FindManaged(new[] { node, Primary }, log)) is { } managed)
                {
                    RestoreManaged(node, managed.Marker);
                    continue;
                }
                var request = new RejoinRequest
                {
                    Node = node, Primary = Primary, Replication = RoleCredential(Credential), Reclone = Reclone, AllowReclone = AllowReclone,
                    DataDirectory = DataDirectory,
                    Timeout = TimeSpan.FromSeconds(TimeoutSeconds),
                };
                using var shell = RunCore(log => HostShells.Open(node, log));
                var plan = RunCore(log => Rejoin.Prepare(request, shell, log));
                if (plan.AlreadyFollowing)
                {
                    WriteObject(RunCore(log => Rejoin.Apply(request, plan, shell, log)));
                    continue;
                }
                if (!ShouldProcessPlan($"Rejoin of {node.Name} as a standby of {Primary.Name} ({plan.Method})", $"Turn {node.Name} into a standby of {Primary.Name}? Its changes since the fork are discarded.", plan.Steps, "Restore-PgStandby"))
                    continue;
                WriteObject(RunCore(log => Rejoin.Apply(request, plan, shell, log)));
            }
            catch (Exception ex) when (ex is not PipelineStoppedException)
            {
                WriteNodeError(ex, "RejoinFailed", node);
            }
        }
    }

    /// <summary>A member of a cluster Patroni manages: nothing when it streams from the leader (without -Reclone), else Patroni's reinitialisation.</summary>
    private void RestoreManaged(PgNode node, PatroniMarker marker)
    {
        var (member, leader, streamingFrom) = RunCore(log => PatroniControl.ReadReinitializeFacts(node, marker, log));
        var decision = PatroniControl.DecideReinitialize(node, member, leader, streamingFrom, Reclone);
        if (!decision.Reinitialize)
        {
            WriteVerbose(decision.Steps[0]);
            WriteObject(node);
            return;
        }
        if (!ShouldProcessPlan($"Reinitialisation of {node.Name} by Patroni", $"Replace {node.Name}'s data directory with a new copy of the leader's?", decision.Steps, "Restore-PgStandby"))
            return;
        WriteObject(RunCore(log => PatroniControl.Reinitialize(node, marker, TimeSpan.FromSeconds(TimeoutSeconds), log)));
    }
}
