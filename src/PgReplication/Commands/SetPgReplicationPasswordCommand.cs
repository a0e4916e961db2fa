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
public sealed class SetPgReplicationPasswordCommand : PgCmdlet
{
    /// <summary>Every node of the cluster: the primary and all its standbys.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
    [PgNodeTransformation]
    [ArgumentCompleter(typeof(NodeNameCompleter))]
    public PgNode[] InputObject { get; set; } = Array.Empty<PgNode>();

    /// <summary>The replication role and its new password.</summary>
    [Parameter(Mandatory = true)]
    [Credential]
    [ValidatePasswordText]
    [ValidateNotNull]
    public PSCredential? Credential { get; set; }

    /// <summary>Rotate even though standbys not given stream as the role (they could not log in again).</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    private readonly List<PgNode> _nodes = new();

    protected override void ProcessRecord()
    {
        foreach (var node in InputObject)
            if (!_nodes.Contains(node)) _nodes.Add(node);
    }

    // One rotation for all the nodes piped in: the password is the cluster's, not a node's.
    protected override void EndProcessing()
    {
        if (_nodes.Count == 0) return;
        var admin = _nodes.Select(n => n.AdminCredential).FirstOrDefault(c => c is not null);
        foreach (var n in _nodes) n.AdminCredential ??= admin;
        var credential = RoleCredential(Credential)!;
        var shells = new Dictionary<PgNode, IHostShell>();
        try
        {
            var opened = _nodes.Select(n => (Node: n, Shell: Concurrently.Start(() => HostShells.Open(n, NullOperationLog.Instance)))).ToList();
            Exception? failure = null;
            foreach (var (node, shell) in opened)
            {
                try { shells[node] = shell.Join(); }
                catch (Exception ex) when (ex is not PipelineStoppedException) { failure ??= ex; WriteNodeError(ex, "HostUnreachable", node); }
            }
            if (failure is not null) return;

            var plan = RunCore(log => ReplicationPassword.Prepare(_nodes, credential, Force, shells, log));
            if (!plan.ChangesNothing &&
                !ShouldProcessPlan($"the replication password of '{plan.Role}' on {plan.Primary.Name}'s cluster",
                    $"Rotate the password of '{plan.Role}' on {string.Join(", ", _nodes.Select(n => n.Name))}?", plan.Steps, "Set-PgReplicationPassword"))
                return;
            foreach (var node in RunCore(log => ReplicationPassword.Apply(plan, credential, shells, log))) WriteObject(node);
        }
        catch (Exception ex) when (ex is not PipelineStoppedException)
        {
            var id = ex switch
            {
                PasswordRotationException r => r.Reason,
                UnauthorizedAccessException => "NotSuperuser",
                ArgumentException => "InvalidCredential",
                _ => "PasswordRotationFailed",
            };
            var target = ex is PasswordRotationException p ? _nodes.FirstOrDefault(n => n.Name == p.Host) ?? (object)_nodes : _nodes;
            WriteNodeError(ex, id, target);
        }
        finally
        {
            foreach (var shell in shells.Values) shell.Dispose();
        }
    }
}
