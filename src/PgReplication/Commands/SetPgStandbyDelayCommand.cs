using System.Management.Automation;
using PgReplication.Core.Model;

namespace PgReplication.Commands;

/// <summary>Sets how far behind the primary a standby applies WAL (recovery_min_apply_delay): a delayed standby.</summary>
[Cmdlet(VerbsCommon.Set, "PgStandbyDelay", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(PgNode))]
public sealed class SetPgStandbyDelayCommand : StandbyReplayCommand
{
    /// <summary>The delay; 0 makes it an ordinary standby again.</summary>
    [Parameter(Mandatory = true, Position = 1)]
    public TimeSpan ApplyDelay { get; set; }

    protected override void ProcessRecord() => Change(null, ApplyDelay, "Set-PgStandbyDelay");
}
