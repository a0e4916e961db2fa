using System.Management.Automation;
using PgReplication.Core;
using PgReplication.Core.Hosts;
using PgReplication.Core.Model;
using PgReplication.Core.Operations;

namespace PgReplication;

/// <summary>
/// A cmdlet that acts on a whole cluster at once (Set-PgReplicationPassword, Enable-PgReplicationSsl): every node piped
/// in is collected, one shell per host is opened before anything is read, and the work runs once, in EndProcessing.
/// </summary>
public abstract class PgClusterCmdlet : PgCmdlet
{
    /// <summary>Every node of the cluster: the primary and all its standbys.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
    [PgNodeTransformation]
    [ArgumentCompleter(typeof(NodeNameCompleter))]
    public PgNode[] InputObject { get; set; } = Array.Empty<PgNode>();

    protected List<PgNode> Nodes { get; } = new();

    protected override void ProcessRecord()
    {
        foreach (var node in InputObject)
            if (!Nodes.Contains(node)) Nodes.Add(node);
    }

    protected override void EndProcessing()
    {
        if (Nodes.Count == 0) return;
        PgNode.ShareAdminCredential(Nodes.ToArray());
        var shells = new Dictionary<PgNode, IHostShell>();
        try
        {
            var opened = Nodes.Select(n => (Node: n, Shell: Concurrently.Start(() => HostShells.Open(n, NullOperationLog.Instance)))).ToList();
            var unreachable = false;
            foreach (var (node, shell) in opened)
            {
                try { shells[node] = shell.Join(); }
                catch (Exception ex) when (ex is not PipelineStoppedException) { unreachable = true; WriteNodeError(ex, "HostUnreachable", node); }
            }
            if (!unreachable) Run(shells);
        }
        catch (RefusedException ex)
        {
            // Its reason becomes the ErrorId (NodeError); the target is the node it names, else the cluster.
            WriteNodeError(ex, ex.Reason, ex.Node ?? (object)Nodes);
        }
        catch (Exception ex) when (ex is not PipelineStoppedException)
        {
            WriteNodeError(ex, FailureId(ex), Nodes);
        }
        finally
        {
            foreach (var shell in shells.Values) shell.Dispose();
        }
    }

    /// <summary>The work, with a shell open on every node's host.</summary>
    protected abstract void Run(IReadOnlyDictionary<PgNode, IHostShell> shells);

    /// <summary>The ErrorId for a failure of the run that is not a refusal with its reason (those carry their own).</summary>
    protected abstract string FailureId(Exception exception);
}
