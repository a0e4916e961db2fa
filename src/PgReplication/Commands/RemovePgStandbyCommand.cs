using System.Management.Automation;
using PgReplication.Core.Hosts;
using PgReplication.Core.Model;
using PgReplication.Core.Operations;

namespace PgReplication.Commands;

/// <summary>
/// Takes standbys out of a cluster: out of synchronous_standby_names, stopped, their slot dropped on the upstream, the
/// pg_hba.conf lines the module wrote for them removed; with -EmptyDataDirectory, their data directory emptied.
/// </summary>
[Cmdlet(VerbsCommon.Remove, "PgStandby", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
[OutputType(typeof(PgNode))]
public sealed class RemovePgStandbyCommand : PgCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
    [PgNodeTransformation]
    [ArgumentCompleter(typeof(NodeNameCompleter))]
    [Alias("Standby")]
    public PgNode[] InputObject { get; set; } = Array.Empty<PgNode>();

    /// <summary>The node the standbys stream from (the primary, or the standby of a cascade).</summary>
    [Parameter(Mandatory = true)]
    [PgNodeTransformation]
    [ArgumentCompleter(typeof(NodeNameCompleter))]
    [Alias("Upstream")]
    public PgNode Primary { get; set; } = null!;

    /// <summary>The standby's slot on the upstream, when the standby cannot say (it does not answer).</summary>
    [Parameter]
    [ArgumentCompleter(typeof(SlotNameCompleter))]
    [ValidatePattern("^[a-z0-9_]{1,63}$")]
    public string? SlotName { get; set; }

    /// <summary>The standby's data directory, when the standby cannot say (it does not answer).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? DataDirectory { get; set; }

    /// <summary>Also empty the standby's data directory (only a standby of -Primary's cluster, once stopped).</summary>
    [Parameter]
    public SwitchParameter EmptyDataDirectory { get; set; }

    /// <summary>Lower synchronous_standby_names even when the standbys left cannot satisfy it; drop a slot someone else uses.</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    [Parameter]
    [ValidateRange(5, 3600)]
    public int TimeoutSeconds { get; set; } = 120;

    private readonly List<PgNode> _standbys = new();

    protected override void ProcessRecord() => _standbys.AddRange(InputObject);

    // Every standby is known before the first changes: -SlotName and -DataDirectory given with several (through the
    // pipeline too) are refused with nothing done.
    protected override void EndProcessing()
    {
        var standbys = _standbys.Distinct().ToList();
        if ((SlotName is not null || DataDirectory is not null) && standbys.Count > 1)
            ThrowArgumentError("-SlotName and -DataDirectory name one standby's, but several standbys were given.", "ValueForManyStandbys", standbys);
        if (DataDirectory is not null && (!DataDirectory.StartsWith('/') || DataDirectory.Split('/').Contains("..") || DataDirectory.Any(char.IsControl)))
            ThrowArgumentError($"'{DataDirectory.Replace("\n", "\\n")}' is not a usable data directory: give an absolute path without '..'.", "InvalidDataDirectory", DataDirectory);
        foreach (var standby in standbys)
        {
            try
            {
                PgNode.ShareAdminCredential(Primary, standby);
                var request = new RemovalRequest
                {
                    Standby = standby, Upstream = Primary, SlotName = SlotName, DataDirectory = DataDirectory,
                    EmptyDataDirectory = EmptyDataDirectory, Force = Force, Timeout = TimeSpan.FromSeconds(TimeoutSeconds),
                };
                using var shell = RunCore(log => HostShells.Open(standby, log));
                var facts = RunCore(log => StandbyRemoval.Read(request, shell, log));
                var plan = StandbyRemoval.Decide(facts, EmptyDataDirectory, Force, Primary.SystemIdentifier);
                foreach (var note in plan.Notes) WriteVerbose($"{standby.Name}: {note}.");
                if (plan.ChangesNothing)
                {
                    WriteVerbose($"{standby.Name}: already removed from {Primary.Name}; nothing to change.");
                    WriteObject(standby);
                    continue;
                }
                if (!ShouldProcessPlan($"Standby {standby.Name} of {Primary.Name}", $"Remove the standby {standby.Name}?", plan.Steps, "Remove-PgStandby"))
                    continue;
                RunCore(log => StandbyRemoval.Apply(request, plan, shell, log));
                foreach (var step in plan.Steps) WriteVerbose($"{standby.Name}: done: {step}.");
                WriteObject(standby);
            }
            catch (RemovalRefusedException ex)
            {
                WriteNodeError(ex, ex.Reason, standby, ErrorCategory.InvalidOperation);
            }
            catch (SlotRefusedException ex)
            {
                WriteNodeError(ex, ex.Reason, standby, ErrorCategory.InvalidOperation);
            }
            catch (Exception ex) when (ex is not PipelineStoppedException)
            {
                WriteNodeError(ex, "RemoveStandbyFailed", standby);
            }
        }
    }
}
