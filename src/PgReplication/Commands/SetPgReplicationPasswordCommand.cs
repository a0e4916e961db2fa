using System.Management.Automation;
using PgReplication.Core.Hosts;
using PgReplication.Core.Model;
using PgReplication.Core.Operations;

namespace PgReplication.Commands;

/// <summary>
/// <para type="synopsis">Rotates the replication role's password on a whole cluster: every passfile, then the role's SCRAM verifier.</para>
/// </summary>
[Cmdlet(VerbsCommon.Set, "PgReplicationPassword", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(PgNode))]
public sealed class SetPgReplicationPasswordCommand : PgClusterCmdlet
{
    /// <summary>The replication role and its new password.</summary>
    [Parameter(Mandatory = true)]
    [Credential]
    [ValidatePasswordText]
    [ValidateNotNull]
    public PSCredential? Credential { get; set; }

    /// <summary>Rotate even though standbys not given stream as the role (they could not log in again).</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    // One rotation for all the nodes piped in: the password is the cluster's, not a node's.
    protected override void Run(IReadOnlyDictionary<PgNode, IHostShell> shells)
    {
        var credential = RoleCredential(Credential)!;
        var plan = RunCore(log => ReplicationPassword.Prepare(Nodes, credential, Force, shells, log));
        if (!plan.ChangesNothing &&
            !ShouldProcessPlan($"the replication password of '{plan.Role}' on {plan.Primary.Name}'s cluster",
                $"Rotate the password of '{plan.Role}' on {string.Join(", ", Nodes.Select(n => n.Name))}?", plan.Steps, "Set-PgReplicationPassword"))
            return;
        foreach (var node in RunCore(log => ReplicationPassword.Apply(plan, credential, shells, log))) WriteObject(node);
    }

    protected override string FailureId(Exception exception) => exception switch
    {
        UnauthorizedAccessException => "NotSuperuser",
        ArgumentException => "InvalidCredential",
        _ => "PasswordRotationFailed",
    };
}
