using System.Management.Automation;
using PgReplication.Core.Model;
using PgReplication.Core.Operations;

namespace PgReplication.Commands;

/// <summary>
/// Hands a running streaming cluster (its primary and standbys, from the pipeline) to Patroni, with an etcd cluster on the
/// hosts as its consensus store: a primary that dies is then replaced without anyone at the keyboard.
/// </summary>
[Cmdlet(VerbsLifecycle.Enable, "PgAutoFailover", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
[OutputType(typeof(PgNode))]
public sealed class EnablePgAutoFailoverCommand : PgCmdlet
{
    /// <summary>The primary and its standbys; the first three run the etcd members.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
    [PgNodeTransformation]
    [ArgumentCompleter(typeof(NodeNameCompleter))]
    public PgNode[] InputObject { get; set; } = Array.Empty<PgNode>();

    /// <summary>The user and password that Patroni's REST API asks of every request that changes something.</summary>
    [Parameter(Mandatory = true)]
    [Credential]
    [ValidatePasswordText]
    public PSCredential RestApiCredential { get; set; } = null!;

    /// <summary>The replication role; by default the one the standbys already use.</summary>
    [Parameter]
    [Credential]
    [ValidatePasswordText]
    public PSCredential? Credential { get; set; }

    /// <summary>Patroni's cluster name (scope); by default "pg" and the system identifier.</summary>
    [Parameter]
    [ValidatePattern("^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")]
    public string? Scope { get; set; }

    /// <summary>How long the leader lock lives without renewal: a dead primary is replaced after at most this plus one loop.</summary>
    [Parameter]
    [ValidateRange(6, 3600)]
    public int TtlSeconds { get; set; } = 30;

    [Parameter]
    [ValidateRange(1, 600)]
    public int LoopWaitSeconds { get; set; } = 10;

    [Parameter]
    [ValidateRange(1, 600)]
    public int RetryTimeoutSeconds { get; set; } = 10;

    /// <summary>Patroni's synchronous mode: only a synchronous standby is promoted (taken anyway when the primary has synchronous_standby_names).</summary>
    [Parameter]
    public SwitchParameter SynchronousMode { get; set; }

    /// <summary>
    /// Patroni's failsafe_mode: when etcd loses quorum the primary keeps taking writes while it reaches every member's REST
    /// API, instead of being demoted. Off by default: it trades a write outage during an etcd failure for trusting that a
    /// member that cannot be reached is down, not partitioned and about to be promoted (it cannot be: no quorum, no election).
    /// </summary>
    [Parameter]
    public SwitchParameter FailsafeMode { get; set; }

    /// <summary>
    /// Patroni's primary_start_timeout: how long a primary whose postgres crashed is restarted in place before a standby is
    /// promoted. Default 0 in synchronous mode (nothing acknowledged can be lost), 300 otherwise (Patroni's own).
    /// </summary>
    [Parameter]
    [ValidateRange(0, 24 * 3600)]
    public int? PrimaryStartTimeoutSeconds { get; set; }

    /// <summary>Install patroni, etcd-server and etcd-client (apt-get through sudo -n) where they are missing.</summary>
    [Parameter]
    public SwitchParameter InstallPackage { get; set; }

    [Parameter]
    [ValidateRange(10, 24 * 3600)]
    public int TimeoutSeconds { get; set; } = 180;

    private readonly List<PgNode> _nodes = new();

    protected override void ProcessRecord() => _nodes.AddRange(InputObject);

    protected override void EndProcessing()
    {
        var nodes = ClusterNodes(_nodes);
        if (nodes.Count == 0) return;
        var request = new AutoFailoverRequest
        {
            Nodes = nodes, Scope = Scope, RestApi = RoleCredential(RestApiCredential)!, Replication = RoleCredential(Credential),
            TtlSeconds = TtlSeconds, LoopWaitSeconds = LoopWaitSeconds, RetryTimeoutSeconds = RetryTimeoutSeconds,
            SynchronousMode = SynchronousMode, FailsafeMode = FailsafeMode, PrimaryStartTimeoutSeconds = PrimaryStartTimeoutSeconds, InstallPackages = InstallPackage, Timeout = TimeSpan.FromSeconds(TimeoutSeconds),
        };
        AutoFailoverPlan plan;
        try { plan = RunCore(log => AutoFailover.Prepare(request, log)); }
        catch (AutoFailoverRefusedException ex)
        {
            ThrowTerminatingError(NodeError(ex, ex.Reason, ex.Node, ErrorCategory.InvalidOperation));
            return;
        }
        catch (Exception ex) when (ex is not PipelineStoppedException)
        {
            ThrowTerminatingError(NodeError(ex, "AutoFailoverFailed", nodes[0]));
            return;
        }
        if (!ShouldProcessPlan($"Patroni and etcd for {plan.Facts.Settings.Scope}", $"Hand {string.Join(", ", nodes.Select(n => n.Name))} to Patroni?", plan.Steps, "Enable-PgAutoFailover"))
            return;
        try { RunCore(log => AutoFailover.Apply(plan, request, log)); }
        catch (Exception ex) when (ex is not PipelineStoppedException)
        {
            ThrowTerminatingError(NodeError(ex, "AutoFailoverFailed", plan.Primary.Node));
            return;
        }
        WriteObject(nodes, enumerateCollection: true);
    }
}
