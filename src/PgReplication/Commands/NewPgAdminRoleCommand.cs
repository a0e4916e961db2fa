using System.Management.Automation;
using PgReplication.Core.Model;
using PgReplication.Core.Operations;

namespace PgReplication.Commands;

/// <summary>
/// <para type="synopsis">Creates (or brings into line) the daily-work admin role: not a superuser.</para>
/// <para type="description">Run once as a superuser on the primary. The role gets LOGIN REPLICATION, never SUPERUSER,
/// a SCRAM-SHA-256 verifier computed here, and what PostgreSQL grants without superuser on the server's major
/// (VersionRules.AdminRoleGrants).</para>
/// </summary>
[Cmdlet(VerbsCommon.New, "PgAdminRole", SupportsShouldProcess = true)]
[OutputType(typeof(PgNode))]
public sealed class NewPgAdminRoleCommand : PgCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
    [PgNodeTransformation]
    [ArgumentCompleter(typeof(NodeNameCompleter))]
    public PgNode[] InputObject { get; set; } = Array.Empty<PgNode>();

    /// <summary>The new role's name and password.</summary>
    [Parameter(Mandatory = true)]
    [Credential]
    [ValidatePasswordText]
    [ValidateNotNull]
    public PSCredential? Credential { get; set; }

    /// <summary>The superuser to connect as, for nodes that carry no admin credential.</summary>
    [Parameter]
    [Credential]
    public PSCredential? AdminCredential { get; set; }

    /// <summary>Change the password of an existing role; take over a role that is a superuser.</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    protected override void ProcessRecord()
    {
        foreach (var node in InputObject)
        {
            try
            {
                node.AdminCredential ??= RoleCredential(AdminCredential);
                var options = new ReplicationUserOptions { Purpose = RolePurpose.Admin, Credential = RoleCredential(Credential)!, Force = Force };
                var plan = RunCore(log => ReplicationUser.Plan(node, options, log));
                if (!ShouldProcessPlan(node.Name, $"Change the admin role '{plan.RoleName}' on {node.Name}?",
                        plan.HasChanges ? plan.Changes : new[] { $"nothing: the role '{plan.RoleName}' is as it should be" }, "New-PgAdminRole"))
                    continue;
                RunCore(log => ReplicationUser.Apply(plan, options, log));
                WriteObject(node);
            }
            catch (Exception ex) when (ex is not PipelineStoppedException)
            {
                WriteNodeError(ex, "AdminRoleFailed", node);
            }
        }
    }
}
