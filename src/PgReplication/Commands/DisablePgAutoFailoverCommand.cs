using System.Management.Automation;
using PgReplication.Core.Model;
using PgReplication.Core.Operations;

namespace PgReplication.Commands;

/// <summary>Takes a cluster back from Patroni: maintenance mode, Patroni and etcd stopped, PostgreSQL left running and streaming.</summary>
[Cmdlet(VerbsLifecycle.Disable, "PgAutoFailover", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
[OutputType(typeof(PgNode))]
public sealed class DisablePgAutoFailoverCommand : PgCmdlet
{
    /// <summary>Every member of the cluster (Patroni and etcd stop on each).</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
    [PgNodeTransformation]
    [ArgumentCompleter(typeof(NodeNameCompleter))]
    public PgNode[] InputObject { get; set; } = Array.Empty<PgNode>();

    [Parameter]
    [ValidateRange(10, 24 * 3600)]
    public int TimeoutSeconds { get; set; } = 120;

    private readonly List<PgNode> _nodes = new();

    protected override void ProcessRecord() => _nodes.AddRange(InputObject);

    protected override void EndProcessing()
    {
        var nodes = ClusterNodes(_nodes);
        if (nodes.Count == 0) return;
        var steps = new[]
        {
            "put Patroni into maintenance mode (PATCH /config pause), so stopping it leaves PostgreSQL running",
            "stop Patroni and etcd on " + string.Join(", ", nodes.Select(n => n.Name)) + ", remove etcd's data",
            "reset " + AutoFailoverConfig.MarkerSetting + ": the manual cmdlets work on the cluster again",
        };
        if (!ShouldProcessPlan("Patroni on " + string.Join(", ", nodes.Select(n => n.Name)), "Take the cluster back from Patroni?", steps, "Disable-PgAutoFailover"))
            return;
        try
        {
            var done = RunCore(log => AutoFailover.Disable(nodes, TimeSpan.FromSeconds(TimeoutSeconds), log));
            foreach (var step in done) WriteVerbose(step);
        }
        catch (Exception ex) when (ex is not PipelineStoppedException)
        {
            ThrowTerminatingError(NodeError(ex, "AutoFailoverFailed", nodes[0]));
            return;
        }
        DiscoverUndiscovered(nodes);
        WriteObject(nodes, enumerateCollection: true);
    }
}
