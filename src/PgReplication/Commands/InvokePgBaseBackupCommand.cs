using System.Management.Automation;
using PgReplication.Core.Hosts;
using PgReplication.Core.Model;
using PgReplication.Core.Operations;

namespace PgReplication.Commands;

/// <summary>Copies a primary into a standby's data directory: pg_basebackup run on the standby host.</summary>
[Cmdlet(VerbsLifecycle.Invoke, "PgBaseBackup", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
[OutputType(typeof(PgNode))]
public sealed class InvokePgBaseBackupCommand : PgCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
    [PgNodeTransformation]
    [ArgumentCompleter(typeof(NodeNameCompleter))]
    [Alias("Standby")]
    public PgNode[] InputObject { get; set; } = Array.Empty<PgNode>();

    [Parameter(Mandatory = true)]
    [PgNodeTransformation]
    [ArgumentCompleter(typeof(NodeNameCompleter))]
    public PgNode Primary { get; set; } = null!;

    /// <summary>The replication role; defaults to the one carried on the primary node by New-PgReplicationUser.</summary>
    [Parameter]
    [Credential]
    [ValidatePasswordText]
    public PSCredential? Credential { get; set; }

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? DataDirectory { get; set; }

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? BinDirectory { get; set; }

    [Parameter]
    [ArgumentCompleter(typeof(SlotNameCompleter))]
    [ValidatePattern("^[a-z0-9_]{1,63}$")]
    public string? SlotName { get; set; }

    [Parameter]
    public SwitchParameter NoSlot { get; set; }

    /// <summary>Not given: the method that wins for the size at hand (-Verbose says which and why).</summary>
    [Parameter]
    public BaseBackupMethod? Method { get; set; }

    /// <summary>Parallel tar streams of -Method Parallel; processes of -Method PgBackRest (--process-max).</summary>
    [Parameter]
    [ValidateRange(1, 32)]
    public int? Streams { get; set; }

    [Parameter]
    public SwitchParameter Force { get; set; }

    [Parameter]
    public SwitchParameter VerifyChecksums { get; set; }

    [Parameter]
    [ValidateRange(10, 7 * 24 * 3600)]
    public int TimeoutSeconds { get; set; } = 7200;

    protected override void BeginProcessing()
    {
        if (NoSlot && SlotName is not null)
            ThrowArgumentError("-NoSlot and -SlotName cannot be used together.", "SlotConflict", SlotName);
        if (Primary.Role != NodeRole.Primary)
        {
            try { RunCore(log => NodeDiscovery.Discover(Primary, log)); }
            catch (Exception ex) when (ex is not PipelineStoppedException)
            {
                ThrowTerminatingError(NodeError(ex, "PrimaryUnreachable", Primary));
            }
        }
    }

    protected override void ProcessRecord()
    {
        var replication = RoleCredential(Credential) ?? Primary.ReplicationCredential;
        if (replication is null || string.IsNullOrEmpty(replication.UserName))
        {
            ThrowArgumentError($"No replication role for {Primary.Name}: give -Credential, or pipe the primary through New-PgReplicationUser.",
                "NoReplicationCredential", Primary);
            return;
        }
        if (SlotName is not null && InputObject.Length > 1)
            ThrowArgumentError("-SlotName names one slot, but several standbys were given.", "SlotForManyStandbys", SlotName);

        foreach (var standby in InputObject)
        {
            var request = new BaseBackupRequest
            {
                Standby = standby, Primary = Primary, Replication = replication, DataDirectory = DataDirectory,
                BinDirectory = BinDirectory, SlotName = SlotName, NoSlot = NoSlot, Force = Force, VerifyChecksums = VerifyChecksums, Method = Method, Streams = Streams,
                Timeout = TimeSpan.FromSeconds(TimeoutSeconds), Cancel = StopToken,
            };
            try
            {
                // Both hosts at once: each SSH login is a round trip or three and a key exchange.
                var (standbyShell, primaryShell) = RunCore(log => HostShells.OpenBoth(standby, Primary, log));
                using var standbyLease = standbyShell;
                using var primaryLease = primaryShell;
                var plan = RunCore(log => BaseBackup.Prepare(request, standbyShell, primaryShell, log));
                if (!plan.AlreadyCopied &&
                    !ShouldProcessPlan($"Base backup of {Primary.Name} to {standby.Name}", $"Copy {Primary.Name} into {standby.Name}:{plan.DataDirectory}?", plan.Steps, "Invoke-PgBaseBackup"))
                    continue;
                var copied = RunCore(log => BaseBackup.Run(request, plan, standbyShell, primaryShell, log));
                // Enable-PgHotStandby next in the pipeline uses this login to the standby instead of its own.
                using (HostShells.Lend(copied, standbyShell)) WriteObject(copied);
            }
            catch (Exception ex) when (ex is not PipelineStoppedException)
            {
                // One standby's failure among several: its error names it even when the cause was on the primary.
                var record = NodeError(ex, "BaseBackupFailed", standby);
                if (!ex.Message.Contains(standby.Name, StringComparison.Ordinal))
                    record.ErrorDetails = new ErrorDetails($"The base backup of {Primary.Name} to {standby.Name} failed: {ex.Message}");
                WriteError(record);
            }
        }
    }
}
