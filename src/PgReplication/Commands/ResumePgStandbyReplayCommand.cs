using System.Management.Automation;
using PgReplication.Core.Model;

namespace PgReplication.Commands;

/// <summary>Resumes paused WAL replay on standbys.</summary>
[Cmdlet(VerbsLifecycle.Resume, "PgStandbyReplay", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(PgNode))]
public sealed class ResumePgStandbyReplayCommand : StandbyReplayCommand
{
    protected override void ProcessRecord() => Change(false, null, "Resume-PgStandbyReplay");
}
