using System.Management.Automation;
using PgReplication.Core.Hosts;
using PgReplication.Core.Model;
using PgReplication.Core.Operations;

namespace PgReplication.Commands;

/// <summary>
/// pgBackRest with its repository on another host: configs, SSH trust, the stanza, archive_command archive-push on the
/// primary, a check and a first full backup. Returns the repository's state and each standby's restore_command.
/// </summary>
[Cmdlet(VerbsData.Initialize, "PgBackRest", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(BackRestInfo))]
public sealed class InitializePgBackRestCommand : PgCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
    [PgNodeTransformation]
    [ArgumentCompleter(typeof(NodeNameCompleter))]
    public PgNode Primary { get; set; } = null!;

    /// <summary>Standbys that will read WAL from the repository (their restore_command is returned).</summary>
    [Parameter]
    [PgNodeTransformation]
    [ArgumentCompleter(typeof(NodeNameCompleter))]
    public PgNode[] Standby { get; set; } = Array.Empty<PgNode>();

    /// <summary>The host that keeps the repository (New-PgNode -NoConnect: it needs SSH, no PostgreSQL). Never the primary's.</summary>
    [Parameter(Mandatory = true)]
    [PgNodeTransformation]
    [ArgumentCompleter(typeof(NodeNameCompleter))]
    public PgNode RepositoryHost { get; set; } = null!;

    [Parameter]
    [ValidatePattern("^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
    public string Stanza { get; set; } = "main";

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string RepositoryPath { get; set; } = "/var/lib/pgbackrest";

    /// <summary>Parallel processes for backups and restores.</summary>
    [Parameter]
    [ValidateRange(1, 64)]
    public int ProcessMax { get; set; } = 2;

    /// <summary>Restart the primary when archive_mode must be turned on.</summary>
    [Parameter]
    public SwitchParameter Restart { get; set; }

    [Parameter]
    [ValidateRange(10, 7 * 24 * 3600)]
    public int TimeoutSeconds { get; set; } = 1800;

    protected override void ProcessRecord()
    {
        var shells = new Dictionary<PgNode, IHostShell>();
        try
        {
            foreach (var s in Standby) PgNode.ShareAdminCredential(Primary, s);
            var request = new BackRestRequest
            {
                Primary = Primary, Standbys = Standby, Repository = RepositoryHost, Stanza = Stanza, RepositoryPath = RepositoryPath,
                ProcessMax = ProcessMax, Restart = Restart, Timeout = TimeSpan.FromSeconds(TimeoutSeconds),
            };
            RunCore(_ => { PgBackRest.ValidateRequest(request); return true; });
            foreach (var node in new[] { RepositoryHost, Primary }.Concat(Standby))
                shells[node] = RunCore(log => HostShells.Open(node, log));
            var plan = RunCore(log => PgBackRest.Prepare(request, shells, log));
            if (!ShouldProcessPlan($"pgBackRest stanza '{Stanza}' on {RepositoryHost.Name}", $"Set up pgBackRest with its repository on {RepositoryHost.Name}?", plan.Steps, "Initialize-PgBackRest"))
                return;
            WriteObject(RunCore(log => PgBackRest.Apply(request, plan, shells, log)));
        }
        catch (ArgumentException ex)
        {
            WriteNodeError(ex, "BadBackRestInput", Primary, ErrorCategory.InvalidArgument);
        }
        catch (Exception ex) when (ex is not PipelineStoppedException)
        {
            WriteNodeError(ex, "BackRestFailed", Primary);
        }
        finally
        {
            foreach (var shell in shells.Values) shell.Dispose();
        }
    }
}
