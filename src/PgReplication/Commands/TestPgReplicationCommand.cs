using System.Management.Automation;
using PgReplication.Core.Model;
using PgReplication.Core.Operations;

namespace PgReplication.Commands;

/// <summary>Checks that standbys stream from their primary, from the servers' own views.</summary>
[Cmdlet(VerbsDiagnostic.Test, "PgReplication")]
[OutputType(typeof(ReplicationHealth))]
[OutputType(typeof(bool))]
public sealed class TestPgReplicationCommand : PgCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
    [PgNodeTransformation]
    [ArgumentCompleter(typeof(NodeNameCompleter))]
    public PgNode[] InputObject { get; set; } = Array.Empty<PgNode>();

    [Parameter]
    [ValidateRange(0, long.MaxValue)]
    public long MaxLagBytes { get; set; } = ReplicationCheckOptions.DefaultMaxLagBytes;

    [Parameter]
    [ValidateRange(0.0, 86400.0)]
    public double MaxLagSeconds { get; set; } = ReplicationCheckOptions.DefaultMaxLagSeconds;

    /// <summary>One boolean for all: true when every standby is healthy.</summary>
    [Parameter]
    public SwitchParameter Quiet { get; set; }

    private readonly List<PgNode> _nodes = new();

    protected override void ProcessRecord() => _nodes.AddRange(InputObject);

    protected override void EndProcessing()
    {
        DiscoverUndiscovered(_nodes);
        var options = new ReplicationCheckOptions { MaxLagBytes = MaxLagBytes, MaxLag = TimeSpan.FromSeconds(MaxLagSeconds) };
        var results = RunCore(log => ReplicationCheck.Check(_nodes, options, log));
        // A cluster Patroni manages: its view of each standby (member state, pending restart, nofailover) beside the servers'.
        RunCore(log =>
        {
            if (PatroniControl.FindManaged(_nodes, log) is { } managed && PatroniControl.ClusterOf(_nodes, managed.Marker, log) is { } cluster)
                PatroniControl.Annotate(results, cluster);
        });
        // Security faults are warnings, each once (a primary's are on each of its standbys' results), with -Quiet too:
        // they say nothing about whether the standbys replicate, so IsHealthy leaves them out.
        foreach (var finding in results.SelectMany(r => r.SecurityFindings).DistinctBy(f => f.Message))
            WriteWarning(finding.Message);
        if (Quiet)
        {
            WriteObject(results.Count > 0 && results.All(r => r.IsHealthy));
            return;
        }
        foreach (var r in results)
        {
            foreach (var failed in r.Checks.Where(c => !c.Passed))
                WriteVerbose($"{r.Standby}: check '{failed.Name}' failed: {failed.Message}");
            WriteObject(r);
        }
    }
}
