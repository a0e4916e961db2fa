using System.Management.Automation;
using PgReplication.Core.Model;

namespace PgReplication.Commands;

/// <summary>Pauses WAL replay on standbys: they keep receiving WAL, and show the data as it was when paused.</summary>
[Cmdlet(VerbsLifecycle.Suspend, "PgStandbyReplay", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(PgNode))]
public sealed class SuspendPgStandbyReplayCommand : StandbyReplayCommand
{
    protected override void ProcessRecord() => Change(true, null, "Suspend-PgStandbyReplay");
}
