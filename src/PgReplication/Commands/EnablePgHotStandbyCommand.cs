using System.Management.Automation;
using PgReplication.Core.Hosts;
using PgReplication.Core.Model;
using PgReplication.Core.Operations;

namespace PgReplication.Commands;

/// <summary>Configures a copied data directory as a hot standby, starts it, and waits until it streams.</summary>
[Cmdlet(VerbsLifecycle.Enable, "PgHotStandby", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(PgNode))]
public sealed class EnablePgHotStandbyCommand : PgCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
    [PgNodeTransformation]
    [ArgumentCompleter(typeof(NodeNameCompleter))]
    [Alias("Standby")]
    public PgNode[] InputObject { get; set; } = Array.Empty<PgNode>();

    /// <summary>The primary to follow; defaults to the one Invoke-PgBaseBackup copied from.</summary>
    [Parameter]
    [PgNodeTransformation]
    [ArgumentCompleter(typeof(NodeNameCompleter))]
    public PgNode? Primary { get; set; }

    [Parameter]
    [Credential]
    [ValidatePasswordText]
    public PSCredential? Credential { get; set; }

    [Parameter]
    [ArgumentCompleter(typeof(SlotNameCompleter))]
    [ValidatePattern("^[a-z0-9_]{1,63}$")]
    public string? SlotName { get; set; }

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? RestoreCommand { get; set; }

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? ArchiveCleanupCommand { get; set; }

    [Parameter]
    [ValidateRange(5, 24 * 3600)]
    public int TimeoutSeconds { get; set; } = 300;

    protected override void ProcessRecord()
    {
        foreach (var standby in InputObject)
        {
            try
            {
                var primary = Primary ?? standby.UpstreamNode
                    ?? throw new ArgumentException($"No primary for {standby.Name}: give -Primary, or pipe the node from Invoke-PgBaseBackup.");
                if (primary.Role != NodeRole.Primary) RunCore(log => NodeDiscovery.Discover(primary, log));
                var replication = RoleCredential(Credential) ?? standby.ReplicationCredential ?? primary.ReplicationCredential;
                PgNode.ShareAdminCredential(primary, standby);
                if (standby.DataDirectory is null && standby.Role is NodeRole.Unknown) TryDiscover(standby);
                if (replication is null && standby.DataDirectory is null)
                    throw new ArgumentException($"No replication role for {standby.Name}: give -Credential.");

                using var shell = RunCore(log => HostShells.Open(standby, log));
                // A standby that already replicates (one built by hand): the credential it uses now, from its primary_conninfo
                // or its passfile, which the run then keeps in the passfile only.
                replication ??= RunCore(log => HotStandby.CredentialInUse(standby, shell))
                    ?? throw new ArgumentException($"No replication role for {standby.Name}: give -Credential (its primary_conninfo and passfile hold none).");
                var request = new HotStandbyRequest
                {
                    Standby = standby, Primary = primary, Replication = replication, SlotName = SlotName,
                    RestoreCommand = RestoreCommand, ArchiveCleanupCommand = ArchiveCleanupCommand,
                    Timeout = TimeSpan.FromSeconds(TimeoutSeconds),
                };
                var plan = RunCore(log => HotStandby.Prepare(request, shell, log));
                // Patroni manages the primary's cluster: the new standby joins it as a member, the way Enable-PgAutoFailover hands one over.
                var join = RunCore(log => PatroniControl.FindManaged(new[] { primary }, log)) is { } managed
                    ? RunCore(log => PatroniJoin.Prepare(primary, standby, managed.Marker, SlotName ?? standby.SlotName ?? SlotNames.FromNodeName(standby.Name), log))
                    : null;
                if (!plan.ChangesNothing || join is not null)
                {
                    if (!ShouldProcessPlan($"Hot standby {standby.Name} of {primary.Name}", $"Make {standby.Name} a hot standby of {primary.Name}?", plan.Steps.Concat(join?.Steps ?? new List<string>()).ToList(), "Enable-PgHotStandby"))
                        continue;
                }
                if (join is not null) RunCore(log => PatroniJoin.KeepSlot(join, log));
                var done = RunCore(log => HotStandby.Apply(request, plan, shell, log));
                if (join is not null) RunCore(log => PatroniJoin.Apply(join, TimeSpan.FromSeconds(TimeoutSeconds), log));
                WriteObject(done);
            }
            catch (Exception ex) when (ex is not PipelineStoppedException)
            {
                WriteNodeError(ex, "HotStandbyFailed", standby);
            }
        }
    }

    private void TryDiscover(PgNode node)
    {
        try { RunCore(log => NodeDiscovery.Discover(node, log)); }
        catch (Exception ex) when (ex is not PipelineStoppedException) { WriteVerbose($"{node.Name}: not running yet ({ex.Message})."); }
    }
}
