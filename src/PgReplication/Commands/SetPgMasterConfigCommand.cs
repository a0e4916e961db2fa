using System.Management.Automation;
using PgReplication.Core.Config;
using PgReplication.Core.Model;
using PgReplication.Core.Operations;

namespace PgReplication.Commands;

/// <summary>
/// <para type="synopsis">Prepares primary nodes for streaming replication: settings, pg_hba.conf, WAL archiving.</para>
/// <para type="description">Settings are written with ALTER SYSTEM, each only where what is there is not already
/// enough; pg_hba.conf gets one scram-sha-256 replication line per standby, and its trust, md5 and password replication
/// lines become scram-sha-256 ones, checked by the server before the reload and rolled back on error. -WhatIf lists each
/// planned change after the read-only checks.</para>
/// </summary>
[Cmdlet(VerbsCommon.Set, "PgMasterConfig", SupportsShouldProcess = true)]
[OutputType(typeof(PgNode))]
public sealed class SetPgMasterConfigCommand : PgCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
    [PgNodeTransformation]
    [ArgumentCompleter(typeof(NodeNameCompleter))]
    [ValidateNotNull]
    public PgNode[]? InputObject { get; set; }

    /// <summary>Standbys: PgNode objects, names of session nodes, or addresses (IPv4, IPv6, host names, CIDR networks).</summary>
    [Parameter]
    [ArgumentCompleter(typeof(NodeNameCompleter))]
    [ValidateNotNull]
    public object[] Standby { get; set; } = Array.Empty<object>();

    /// <summary>Accept a -Standby network wider than one host (never a /0).</summary>
    [Parameter]
    public SwitchParameter AllowNetwork { get; set; }

    /// <summary>The replication role; default the one New-PgReplicationUser put on the node.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? ReplicationUser { get; set; }

    [Parameter]
    public SwitchParameter RequireSsl { get; set; }

    /// <summary>WAL kept for standbys, in MB (wal_keep_size; wal_keep_segments before 13).</summary>
    [Parameter]
    [ValidateRange(1, int.MaxValue)]
    public int WalKeepSize { get; set; } = PrimaryConfigOptions.DefaultWalKeepSizeMB;

    /// <summary>max_slot_wal_keep_size in MB (13 and later); -1 for no limit.</summary>
    [Parameter]
    [ValidateRange(-1, int.MaxValue)]
    public int MaxSlotWalKeepSize { get; set; }

    /// <summary>The standbys' application_name, which is their slot name.</summary>
    [Parameter]
    [ArgumentCompleter(typeof(SlotNameCompleter))]
    [ValidateNotNullOrEmpty]
    public string[]? SynchronousStandby { get; set; }

    [Parameter]
    public SynchronousMode SynchronousMode { get; set; } = SynchronousMode.First;

    [Parameter]
    [ValidateRange(1, 100)]
    public int SynchronousCount { get; set; } = 1;

    /// <summary>An archive command containing %p, or an absolute directory on the primary's host.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? WalArchive { get; set; }

    /// <summary>Addresses the primary must listen on; default its ComputerName.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string[]? ListenAddress { get; set; }

    /// <summary>
    /// PostgreSQL 17 and later: the standbys whose copies of the failover logical slots a promotion may use (PgNode objects,
    /// names of session nodes, or their slot names). Their physical slots go into synchronized_standby_slots, and each
    /// -Standby address gets a line for the slot sync worker's login to the primary's database. An empty list (@()) clears
    /// synchronized_standby_slots: no standby is a failover candidate any more.
    /// </summary>
    [Parameter]
    [ArgumentCompleter(typeof(NodeNameCompleter))]
    [AllowEmptyCollection]
    public object[]? FailoverStandby { get; set; }

    /// <summary>Restart the server when a changed setting needs it, and wait until it accepts connections.</summary>
    [Parameter]
    public SwitchParameter Restart { get; set; }

    [Parameter]
    [ValidateRange(5, 3600)]
    public int RestartTimeoutSeconds { get; set; } = 120;

    private List<string>? _standbys;
    private List<string>? _failoverSlots;

    protected override void BeginProcessing()
    {
        BindFailoverStandbys();
        _standbys = new List<string>();
        foreach (var item in Standby)
        {
            switch (item is PSObject pso ? pso.BaseObject : item)
            {
                case PgNode node: _standbys.Add(node.ComputerName); break;
                // A session node's name stands for that node, as for the other cmdlets' node parameters.
                case string text: _standbys.Add(SessionNodes.Find(text)?.ComputerName ?? text); break;
                default:
                    ThrowArgumentError($"-Standby takes PgNode objects or addresses, not '{item}'.", "InvalidStandby", item);
                    break;
            }
        }
    }

    // A node (or a session node's name) stands for the slot it streams through; any other text is taken as a slot name.
    private void BindFailoverStandbys()
    {
        if (FailoverStandby is null) return;
        _failoverSlots = new List<string>();
        foreach (var item in FailoverStandby)
        {
            switch (item is PSObject pso ? pso.BaseObject : item)
            {
                case PgNode node: _failoverSlots.Add(SlotNames.ForFollower(node)); break;
                case string text: _failoverSlots.Add(SessionNodes.Find(text) is { } known ? SlotNames.ForFollower(known) : SlotNames.FromNodeName(text)); break;
                default:
                    ThrowArgumentError($"-FailoverStandby takes PgNode objects, node names or slot names, not '{item}'.", "InvalidStandby", item);
                    break;
            }
        }
    }

    protected override void ProcessRecord()
    {
        foreach (var node in InputObject!)
        {
            try
            {
                var role = ReplicationUser ?? node.ReplicationCredential?.UserName;
                // The role is what the standbys' lines name: without -Standby there are none to write.
                if (string.IsNullOrEmpty(role) && _standbys!.Count > 0)
                {
                    WriteNodeError(new ArgumentException($"No replication role for {node.Name}: give -ReplicationUser, or pipe the node from New-PgReplicationUser."),
                        "NoReplicationUser", node);
                    continue;
                }
                var options = new PrimaryConfigOptions
                {
                    Standbys = _standbys!,
                    ReplicationUser = string.IsNullOrEmpty(role) ? null : role,
                    RequireSsl = RequireSsl,
                    WalKeepSizeMB = WalKeepSize,
                    MaxSlotWalKeepSizeMB = MyInvocation.BoundParameters.ContainsKey(nameof(MaxSlotWalKeepSize)) ? MaxSlotWalKeepSize : null,
                    SynchronousStandbys = SynchronousStandby ?? Array.Empty<string>(),
                    SynchronousMode = SynchronousMode,
                    SynchronousCount = SynchronousCount,
                    WalArchive = WalArchive,
                    ListenAddresses = ListenAddress,
                    AllowNetwork = AllowNetwork,
                    // Replication lines with trust, md5 or password become scram-sha-256 ones (each shown under -WhatIf).
                    ScramReplicationLines = true,
                    FailoverStandbySlots = _failoverSlots,
                };
                var plan = RunCore(log => PrimaryConfig.Plan(node, options, log));
                if (RunCore(log => PatroniControl.FindManaged(new[] { node }, log)) is { } managed)
                {
                    ApplyManaged(node, plan, managed.Marker);
                    continue;
                }
                var approved = plan.Changes.Where(c => ShouldProcess(node.Name, c.Description)).ToList();
                var restart = Restart && plan.NeedsRestart && ShouldProcess(node.Name, "restart the server and wait until it accepts connections");
                if (approved.Count < plan.Changes.Count && approved.Count == 0 && !restart) continue; // -WhatIf, or all declined
                var result = RunCore(log => PrimaryConfig.Apply(plan, approved, restart, TimeSpan.FromSeconds(RestartTimeoutSeconds), log));
                WriteObject(result.Node);
            }
            catch (Exception ex) when (ex is not PipelineStoppedException)
            {
                WriteNodeError(ex, "PrimaryConfigFailed", node);
            }
        }
    }

    /// <summary>
    /// Patroni manages the cluster: settings go through its dynamic configuration (every member), a restart through Patroni;
    /// pg_hba.conf lines and the archive directory as always (Patroni leaves a hba_file it was given alone).
    /// </summary>
    private void ApplyManaged(PgNode node, PrimaryConfigPlan plan, PatroniMarker marker)
    {
        var settings = plan.Changes.Where(c => c.Kind == PrimaryChangeKind.Setting).ToList();
        ManagedSettings.Decide(node, settings); // refuses what Patroni owns before anything changes
        var approvedSettings = settings.Where(c => ShouldProcess(node.Name, ManagedSettings.Decide(node, new[] { c }).Steps.FirstOrDefault() ?? c.Description)).ToList();
        var others = plan.Changes.Where(c => c.Kind != PrimaryChangeKind.Setting && ShouldProcess(node.Name, c.Description)).ToList();
        var restart = Restart && ShouldProcess(node.Name, "ask Patroni to restart each member whose settings wait for it (the standbys first, then the primary)");
        if (approvedSettings.Count == 0 && others.Count == 0 && !restart) return; // -WhatIf, or all declined
        var changes = new List<string>();
        if (others.Count > 0) changes.AddRange(RunCore(log => PrimaryConfig.Apply(plan, others, false, TimeSpan.FromSeconds(RestartTimeoutSeconds), log)).Changes);
        var managedPlan = ManagedSettings.Decide(node, approvedSettings);
        var result = RunCore(log => ManagedSettings.Apply(node, marker, managedPlan, restart, TimeSpan.FromSeconds(RestartTimeoutSeconds), log));
        foreach (var change in changes.Concat(result.Changes)) WriteVerbose($"{node.Name}: {change}.");
        WriteObject(result.Node);
    }
}
