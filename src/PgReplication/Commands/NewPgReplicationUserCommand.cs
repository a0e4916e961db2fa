using System.Management.Automation;
using PgReplication.Core.Model;
using PgReplication.Core.Operations;

namespace PgReplication.Commands;

/// <summary>
/// <para type="synopsis">Creates (or brings into line) the replication role on primary nodes.</para>
/// <para type="description">The role gets LOGIN REPLICATION and never SUPERUSER; its password is sent as a
/// SCRAM-SHA-256 verifier computed here, so the plain password never reaches the server. The node comes out
/// carrying the replication credential for the cmdlets after it.</para>
/// </summary>
[Cmdlet(VerbsCommon.New, "PgReplicationUser", SupportsShouldProcess = true, DefaultParameterSetName = NodeSet)]
[OutputType(typeof(PgNode))]
public sealed class NewPgReplicationUserCommand : PgCmdlet
{
    private const string NodeSet = "Node";
    private const string ComputerNameSet = "ComputerName";

    [Parameter(Mandatory = true, ValueFromPipeline = true, ParameterSetName = NodeSet)]
    [ValidateNotNull]
    public PgNode[]? InputObject { get; set; }

    [Parameter(Mandatory = true, Position = 0, ParameterSetName = ComputerNameSet)]
    [ValidateNotNullOrEmpty]
    public string[]? ComputerName { get; set; }

    [Parameter(ParameterSetName = ComputerNameSet)]
    [ValidateRange(1, 65535)]
    public int Port { get; set; } = PgNode.DefaultPort;

    /// <summary>The admin (superuser) role used to connect, for -ComputerName.</summary>
    [Parameter(ParameterSetName = ComputerNameSet)]
    [Credential]
    public PSCredential? AdminCredential { get; set; }

    /// <summary>The replication role's name and password.</summary>
    [Parameter(Mandatory = true)]
    [Credential]
    [ValidatePasswordText]
    [ValidateNotNull]
    public PSCredential? Credential { get; set; }

    [Parameter]
    [ValidateRange(-1, int.MaxValue)]
    public int ConnectionLimit { get; set; } = -1;

    /// <summary>Change the password of an existing role; take over a role that is a superuser.</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    protected override void ProcessRecord()
    {
        foreach (var node in Nodes())
        {
            if (node is null) continue;
            try
            {
                var options = new ReplicationUserOptions
                {
                    Credential = RoleCredential(Credential),
                    ConnectionLimit = MyInvocation.BoundParameters.ContainsKey(nameof(ConnectionLimit)) ? ConnectionLimit : null,
                    Force = Force,
                };
                var plan = RunCore(log => ReplicationUser.Plan(node, options, log));
                var approved = true;
                foreach (var change in plan.Changes)
                    approved &= ShouldProcess(node.Name, change);
                if (!approved) continue;
                RunCore(log => ReplicationUser.Apply(plan, options, log));
                WriteObject(node);
            }
            catch (Exception ex) when (ex is not PipelineStoppedException)
            {
                WriteNodeError(ex, "ReplicationUserFailed", node);
            }
        }
    }

    private IEnumerable<PgNode?> Nodes()
    {
        if (InputObject is not null)
        {
            foreach (var node in InputObject) yield return node;
            yield break;
        }
        foreach (var text in ComputerName!)
        {
            // A session node's name stands for that node (its credentials and SSH settings), as for node parameters;
            // the fixes Test-PgReplication names ("New-PgReplicationUser db1 ...") rely on it.
            if (!MyInvocation.BoundParameters.ContainsKey(nameof(Port)) && SessionNodes.Find(text) is { } known)
            {
                known.AdminCredential ??= RoleCredential(AdminCredential);
                yield return known;
                continue;
            }
            if (!NodeAddress.TryParse(text, out var address, out var error))
            {
                WriteNodeError(new ArgumentException(error), "InvalidComputerName", text);
                yield return null;
                continue;
            }
            yield return NodeFactory.Create(address, Port, new NodeSettings { AdminCredential = RoleCredential(AdminCredential) });
        }
    }
}
