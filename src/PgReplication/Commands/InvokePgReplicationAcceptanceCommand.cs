using System.Collections;
using System.Management.Automation;
using PgReplication.Core.Model;
using PgReplication.Core.Operations;

namespace PgReplication.Commands;

/// <summary>
/// Runs the module's standard acceptance checks (PgReplication.Acceptance.Tests.ps1, shipped beside the module)
/// with Pester against the nodes given, and returns Pester's result; NUnit or JUnit XML for CI systems.
/// Reads the servers (and, for the files' modes, each host through its shell) only: the cmdlet gathers the readings
/// (Core), the Pester file decides what passes.
/// </summary>
[Cmdlet(VerbsLifecycle.Invoke, "PgReplicationAcceptance")]
[OutputType("Pester.Run")]
public sealed class InvokePgReplicationAcceptanceCommand : PgCmdlet
{
    public const string TestsFileName = "PgReplication.Acceptance.Tests.ps1";
    public const string MinimumPesterVersion = "5.5.0";

    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
    [PgNodeTransformation]
    [ArgumentCompleter(typeof(NodeNameCompleter))]
    public PgNode[] InputObject { get; set; } = Array.Empty<PgNode>();

    /// <summary>The admin role for nodes that carry none.</summary>
    [Parameter]
    [Credential]
    public PSCredential? Credential { get; set; }

    [Parameter]
    [ValidateRange(0, long.MaxValue)]
    public long MaxLagBytes { get; set; } = ReplicationCheckOptions.DefaultMaxLagBytes;

    [Parameter]
    [ValidateRange(0.0, 86400.0)]
    public double MaxLagSeconds { get; set; } = ReplicationCheckOptions.DefaultMaxLagSeconds;

    /// <summary>Checks to leave out, by the tag each test carries.</summary>
    [Parameter]
    [ValidateSet("Connected", "Streaming", "Lag", "Slots", "Archiver", "Hba", "Roles", "Synchronous", "Passwords", "Trigger", "Files")]
    public string[] ExcludeCheck { get; set; } = Array.Empty<string>();

    /// <summary>Where to write the test report for a CI system; none is written without it.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? OutputPath { get; set; }

    [Parameter]
    [ValidateSet("NUnitXml", "NUnit2.5", "JUnitXml")]
    public string OutputFormat { get; set; } = "NUnitXml";

    /// <summary>Pester's console output.</summary>
    [Parameter]
    [ValidateSet("None", "Normal", "Detailed", "Diagnostic")]
    public string Output { get; set; } = "Detailed";

    // PowerShell, because Pester is: a container with the readings as its data, run with the caller's options.
    private const string RunPester = """
        param($Path, $Data, $Verbosity, $ExcludeTag, $OutputPath, $OutputFormat)
        $configuration = New-PesterConfiguration
        $configuration.Run.Container = New-PesterContainer -Path $Path -Data $Data
        $configuration.Run.PassThru = $true
        $configuration.Output.Verbosity = $Verbosity
        if ($ExcludeTag) { $configuration.Filter.ExcludeTag = $ExcludeTag }
        if ($OutputPath) {
            $configuration.TestResult.Enabled = $true
            $configuration.TestResult.OutputPath = $OutputPath
            $configuration.TestResult.OutputFormat = $OutputFormat
        }
        Invoke-Pester -Configuration $configuration
        """;

    private readonly List<PgNode> _nodes = new();

    // Pester is the user's, not shipped: a missing one is found before any server is asked anything.
    protected override void BeginProcessing()
    {
        var pester = InvokeCommand.InvokeScript(
            $"Import-Module Pester -MinimumVersion {MinimumPesterVersion} -Global -PassThru -ErrorAction SilentlyContinue -WarningAction SilentlyContinue");
        if (pester.Count == 0)
            ThrowTerminatingError(new ErrorRecord(new InvalidOperationException(
                    $"Invoke-PgReplicationAcceptance needs Pester {MinimumPesterVersion} or later, and none was found in PSModulePath. " +
                    "Install it with: Install-PSResource Pester (or Install-Module Pester -MinimumVersion 5.5)."),
                "PgReplication.PesterMissing", ErrorCategory.NotInstalled, null));
    }

    protected override void ProcessRecord() => _nodes.AddRange(InputObject);

    protected override void EndProcessing()
    {
        var credential = RoleCredential(Credential);
        var nodes = _nodes.Distinct().ToList();
        foreach (var node in nodes) node.AdminCredential ??= credential;
        DiscoverUndiscovered(nodes);
        var options = new ReplicationCheckOptions { MaxLagBytes = MaxLagBytes, MaxLag = TimeSpan.FromSeconds(MaxLagSeconds) };
        var health = RunCore(log => ReplicationCheck.Check(nodes, options, log));
        // The primaries found from the standbys' primary_conninfo are audited too.
        var audited = nodes.Concat(health.Select(h => h.PrimaryNode).OfType<PgNode>())
            .GroupBy(n => (n.ComputerName, n.Port)).Select(g => g.First()).ToList();
        // A standby's findings name its primary in their fixes (Enable-PgHotStandby db2 -Primary db1).
        var primaryOf = health.Where(h => h.StandbyNode is not null && h.PrimaryNode is not null)
            .GroupBy(h => h.StandbyNode!).ToDictionary(g => g.Key, g => g.First().PrimaryNode!.Name);
        var audits = RunCore(log => audited.Select(n => Audit.Read(n, log, primaryOf.GetValueOrDefault(n))).ToList());

        var data = new Hashtable
        {
            ["Health"] = health.ToArray(), ["Audits"] = audits.ToArray(),
            ["MaxLagBytes"] = MaxLagBytes, ["MaxLagSeconds"] = MaxLagSeconds,
        };
        var testsPath = Path.Combine(Path.GetDirectoryName(typeof(InvokePgReplicationAcceptanceCommand).Assembly.Location)!, TestsFileName);
        var outputPath = OutputPath is null ? null : GetUnresolvedProviderPathFromPSPath(OutputPath);
        var run = InvokeCommand.InvokeScript(false, ScriptBlock.Create(RunPester), null,
            testsPath, data, Output, ExcludeCheck, outputPath, OutputFormat);
        WriteObject(run, enumerateCollection: true);
    }
}
