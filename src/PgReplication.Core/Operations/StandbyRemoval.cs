using System.Net;
using PgReplication.Core.Config;
using PgReplication.Core.Hosts;
using PgReplication.Core.Model;
using PgReplication.Core.Sql;
using PgReplication.Core.Versions;

namespace PgReplication.Core.Operations;

/// <summary>A removal refused before anything changed; <see cref="Reason"/> is the stable part of the ErrorId.</summary>
public sealed class RemovalRefusedException : RefusedException
{
    /// <summary>Reasons: NotAStandby, SyncUnsatisfiable, SlotActive, DataDirectoryUnknown, DataDirectoryRefused.</summary>
    public RemovalRefusedException(string reason, string message) : base(reason, message) { }
}

public sealed class RemovalRequest
{
    public required PgNode Standby { get; init; }
    /// <summary>The node it streams from: its slot, its pg_hba.conf lines and synchronous_standby_names are there.</summary>
    public required PgNode Upstream { get; init; }
    /// <summary>The standby's slot on the upstream when it cannot say (it does not answer and was not set up in this session).</summary>
    public string? SlotName { get; init; }
    /// <summary>The standby's data directory when it cannot say.</summary>
    public string? DataDirectory { get; init; }
    public bool EmptyDataDirectory { get; init; }
    public bool Force { get; init; }
    public TimeSpan Timeout { get; init; } = TimeSpan.FromMinutes(2);
}

/// <summary>What was read before anything changes: the standby, its directory, and what the upstream keeps for it.</summary>
public sealed record RemovalFacts
{
    public required string Standby { get; init; }
    public required string Upstream { get; init; }
    /// <summary>The standby answered over SQL; InRecovery is what it said.</summary>
    public bool Answers { get; init; }
    public bool InRecovery { get; init; }
    /// <summary>The standby is the upstream itself (same host and port).</summary>
    public bool IsUpstream { get; init; }
    public string? DataDirectory { get; init; }
    public DataDirectoryIdentity? Directory { get; init; }
    public string? ApplicationName { get; init; }
    public required string SlotName { get; init; }
    /// <summary>The slot name is the module's default for the standby's name, not one the standby said it uses.</summary>
    public bool SlotNameGuessed { get; init; }
    /// <summary>The slot as the upstream has it; null when it has none of that name.</summary>
    public ReplicationSlotInfo? Slot { get; init; }
    /// <summary>The WAL sender on the slot is the standby's own (from its address), not someone else's.</summary>
    public bool SlotUsedByStandby { get; init; }
    public string? HbaFile { get; init; }
    /// <summary>The lines the module wrote in the upstream's pg_hba.conf for the standby's address.</summary>
    public IReadOnlyList<string> HbaLines { get; init; } = Array.Empty<string>();
    /// <summary>Other WAL senders from the standby's address (another standby on that host still needs its line).</summary>
    public IReadOnlyList<string> OthersFromAddress { get; init; } = Array.Empty<string>();
    public string? SynchronousStandbyNames { get; init; }
    /// <summary>17+: the upstream's synchronized_standby_slots (the failover candidates' slots); null before 17.</summary>
    public string? SynchronizedStandbySlots { get; init; }
    /// <summary>application_name of every other WAL sender streaming from the upstream.</summary>
    public IReadOnlyList<string> OtherStreaming { get; init; } = Array.Empty<string>();
}

public sealed class RemovalPlan
{
    public required RemovalFacts Facts { get; init; }
    /// <summary>synchronous_standby_names to write on the upstream, when it changes.</summary>
    public string? NewSynchronousStandbyNames { get; init; }
    /// <summary>17+: synchronized_standby_slots without the standby's slot, when the upstream listed it.</summary>
    public string? NewSynchronizedStandbySlots { get; init; }
    public bool Stop { get; init; }
    public SlotDropStep? DropSlot { get; init; }
    public IReadOnlyList<string> HbaLinesToRemove { get; init; } = Array.Empty<string>();
    public bool Empty { get; init; }
    public List<string> Steps { get; } = new();
    public List<string> Notes { get; } = new();
    public bool ChangesNothing => Steps.Count == 0;
}

/// <summary>
/// Takes a standby out: out of synchronous_standby_names first (so no commit waits for it), stopped, its slot dropped
/// on the upstream, the pg_hba.conf lines the module wrote for it removed, and, only when asked, its data directory
/// emptied. Facts are read first; <see cref="Decide"/> is pure.
/// </summary>
public static class StandbyRemoval
{
    private const string UpstreamQuery = """
        SELECT pg_catalog.current_setting('synchronous_standby_names') AS sync_names,
               pg_catalog.current_setting('synchronized_standby_slots', true) AS failover_slots,
               pg_catalog.current_setting('hba_file') AS hba_file
        """;

    private const string SendersQuery = """
        SELECT r.pid, r.application_name, pg_catalog.host(r.client_addr) AS client_addr, r.state, s.slot_name::text AS slot_name
          FROM pg_catalog.pg_stat_replication r
          LEFT JOIN pg_catalog.pg_replication_slots s ON s.active_pid = r.pid
        """;

    public static RemovalFacts Read(RemovalRequest request, IHostShell standbyShell, IOperationLog log)
    {
        var (standby, upstream) = (request.Standby, request.Upstream);
        var isUpstream = standby.ComputerName == upstream.ComputerName && standby.Port == upstream.Port;
        // The upstream must answer (its slot, senders, pg_hba.conf and settings are what changes); the standby may not.
        using var session = PgSession.Open(upstream, log: log);
        NodeDiscovery.Discover(upstream, session, NullOperationLog.Instance);
        // What the standby says about itself (it may be stopped already: a second run).
        var position = StandbyPositions.Read(standby, log, TimeSpan.FromSeconds(5));
        if (position.Reachable && standby.DataDirectory is null) NodeDiscovery.Discover(standby, log);
        var dataDirectory = request.DataDirectory ?? standby.DataDirectory;
        IReadOnlyDictionary<string, string> settings = new Dictionary<string, string>();
        if (dataDirectory is not null && (standby.MajorVersion ?? upstream.MajorVersion) is { } knownMajor)
        {
            var file = HotStandby.RecoveryConfigFile(dataDirectory, knownMajor);
            settings = OfflineSettings.Read(HostFiles.ReadTextOrEmpty(standbyShell, file, standby.OsUser));
        }
        var conninfo = settings.GetValueOrDefault("primary_conninfo") is { Length: > 0 } c ? TryParse(c) : new Dictionary<string, string>();
        var applicationName = position.ApplicationName ?? conninfo.GetValueOrDefault("application_name");
        var configuredSlot = (position.Reachable ? ReplicationSlots.SlotOfStandby(standby, log) : null)
                             ?? (settings.GetValueOrDefault("primary_slot_name") is { Length: > 0 } s ? s : null);
        // What the standby says it uses comes first; -SlotName is for one that cannot say.
        var slotName = configuredSlot ?? request.SlotName ?? standby.SlotName ?? SlotNames.FromNodeName(standby.Name);
        var guessed = request.SlotName is null && configuredSlot is null && standby.SlotName is null;

        DataDirectoryIdentity? directory = null;
        if (dataDirectory is not null)
        {
            var major = standby.MajorVersion ?? upstream.MajorVersion ?? VersionRules.NewestMajor;
            using var upstreamShell = TryOpen(upstream, log);
            directory = DataDirectoryGuard.Inspect(standbyShell, standby.Name, dataDirectory, standby.OsUser, standby.BinDirectory, major,
                upstreamShell is null ? null : upstream, upstreamShell);
        }

        // The upstream: its slot, its senders, its pg_hba.conf and synchronous_standby_names.
        var row = session.Query(UpstreamQuery).Single();
        var senders = session.Query(SendersQuery);
        var addresses = Addresses(standby, position);
        var slot = ReplicationSlots.List(upstream, session, Array.Empty<(PgNode, string)>()).FirstOrDefault(x => x.SlotName == slotName);
        bool IsStandbys(SqlRow r) => r.Text("slot_name") == slotName || applicationName is not null && r.Text("application_name") == applicationName
                                     && r.Text("client_addr") is { } a && addresses.Contains(a);
        var others = senders.Where(r => !IsStandbys(r)).ToList();
        var hbaPath = upstream.HbaFile ?? row.Text("hba_file");
        var hbaText = hbaPath is null ? "" : PrimaryConfig.ReadHbaText(upstream, session, hbaPath, log);
        var lines = addresses.Where(a => IPAddress.TryParse(a, out _)).SelectMany(a => HbaEditor.MarkedLinesFor(hbaText, IPAddress.Parse(a))).Distinct().ToList();
        return new RemovalFacts
        {
            Standby = standby.Name, Upstream = upstream.Name, Answers = position.Reachable, InRecovery = position.InRecovery, IsUpstream = isUpstream,
            DataDirectory = dataDirectory, Directory = directory, ApplicationName = applicationName, SlotName = slotName, SlotNameGuessed = guessed,
            Slot = slot, SlotUsedByStandby = slot is { Active: true } && senders.Any(r => r.Get<int>("pid") == slot.ActivePid && r.Text("client_addr") is { } a && addresses.Contains(a)),
            HbaFile = hbaPath, HbaLines = lines,
            OthersFromAddress = others.Where(r => r.Text("client_addr") is { } a && addresses.Contains(a)).Select(r => $"{r.Text("application_name")}@{r.Text("client_addr")}").ToList(),
            SynchronousStandbyNames = row.Text("sync_names"), SynchronizedStandbySlots = row.Text("failover_slots"),
            OtherStreaming = others.Where(r => r.Text("state") == "streaming").Select(r => r.Text("application_name") ?? "").ToList(),
        };
    }

    /// <summary>
    /// synchronous_standby_names without <paramref name="applicationName"/>, or null when it does not list it (a '*' lists
    /// every standby, and stays). Refused (SyncUnsatisfiable) when the standbys left that stream could no longer confirm
    /// as many commits as the setting asks, unless <paramref name="force"/>: then the count is lowered to what is left,
    /// and with none left replication becomes asynchronous (''). Pure.
    /// </summary>
    public static string? SynchronousWithout(string? value, string? applicationName, IReadOnlyList<string> otherStreaming, bool force, string upstream, string standby)
    {
        var names = SynchronousStandbyNames.Parse(value);
        if (names.Count == 0 || applicationName is null || !SynchronousStandbyNames.Lists(names, applicationName)) return null;
        var required = SynchronousStandbyNames.RequiredCount(value);
        var star = names.Contains("*");
        var left = star ? names : names.Where(n => !string.Equals(n, applicationName, StringComparison.OrdinalIgnoreCase)).ToList();
        var streamingLeft = otherStreaming.Count(o => SynchronousStandbyNames.Lists(left, o));
        if (streamingLeft >= required) return star ? null : SynchronousStandbyNames.Build(ModeOf(value), Math.Min(required, left.Count), left);
        if (!force)
            throw new RemovalRefusedException(ErrorReasons.SyncUnsatisfiable,
                $"synchronous_standby_names on {upstream} is '{value}': it asks for {required} synchronous standby(s), and without {standby} " +
                $"{streamingLeft} listed standby(s) stream ({string.Join(", ", otherStreaming.Where(o => SynchronousStandbyNames.Lists(left, o)).DefaultIfEmpty("none"))}). " +
                "Commits would wait for ever. Add a synchronous standby first (Set-PgMasterConfig -SynchronousStandby), or use -Force to lower the count (to none: asynchronous).");
        var count = Math.Min(streamingLeft, star ? required : left.Count);
        return count == 0 ? "" : SynchronousStandbyNames.Build(ModeOf(value), count, left);
    }

    private static SynchronousMode ModeOf(string? value) =>
        (value ?? "").TrimStart().StartsWith("ANY", StringComparison.OrdinalIgnoreCase) ? SynchronousMode.Any : SynchronousMode.First;

    /// <summary>What to change, from the facts; refusals before anything changes. Pure.</summary>
    public static RemovalPlan Decide(RemovalFacts facts, bool emptyDataDirectory, bool force, ulong? upstreamSystemIdentifier)
    {
        if (facts.IsUpstream || facts.Answers && !facts.InRecovery)
            throw new RemovalRefusedException(ErrorReasons.NotAStandby,
                $"{facts.Standby} is {(facts.IsUpstream ? $"the upstream {facts.Upstream} itself" : "a primary")}, not a standby of {facts.Upstream}: Remove-PgStandby takes standbys out, never a primary.");
        var directory = facts.Directory;
        if (emptyDataDirectory)
        {
            if (facts.DataDirectory is null || directory is null)
                throw new RemovalRefusedException(ErrorReasons.DataDirectoryUnknown,
                    $"The data directory of {facts.Standby} is not known (it does not answer): give it with -DataDirectory to have it emptied. No path is guessed for a destructive step.");
            if (directory.Kind != DataDirectoryKind.Empty && !IsStandbyOf(directory, upstreamSystemIdentifier))
                throw new RemovalRefusedException(ErrorReasons.DataDirectoryRefused,
                    $"On {facts.Standby}, {directory.Path} is {directory.Kind switch { DataDirectoryKind.RunningPrimary => "a running primary", DataDirectoryKind.Stopped => "a stopped cluster that is not marked as a standby", _ => directory.Kind.ToString() }}" +
                    $"{(directory.SystemIdentifier is { } id ? $" (system identifier {id})" : "")}, not a standby of {facts.Upstream}: refused to empty it, with or without -Force.");
        }

        var newSync = SynchronousWithout(facts.SynchronousStandbyNames, facts.ApplicationName ?? facts.SlotName, facts.OtherStreaming, force, facts.Upstream, facts.Standby);
        var running = directory?.IsRunning ?? facts.Answers;
        SlotDropStep? drop = null;
        if (facts.Slot is { } slot)
        {
            // Its own WAL sender ends when it stops; anyone else's needs -Force, and a guessed name never takes a slot in use.
            var usedByOther = slot.Active && !(facts.SlotUsedByStandby && running);
            if (usedByOther && (!force || facts.SlotNameGuessed))
                throw new RemovalRefusedException(ErrorReasons.SlotActive,
                    $"The slot {slot.SlotName} on {facts.Upstream} is in use by {slot.Serves ?? $"process {slot.ActivePid}"}, not by {facts.Standby}" +
                    (facts.SlotNameGuessed ? $" (the name is only the default for {facts.Standby}: give -SlotName)" : ": use -Force to drop it anyway") + ".");
            drop = new SlotDropStep(facts.Upstream, slot.SlotName, usedByOther ? SlotDropAction.TerminateAndDrop : SlotDropAction.Drop,
                $"drop the slot {slot.SlotName} on {facts.Upstream} (it keeps {slot.RetainedBytes ?? 0} bytes of WAL for {facts.Standby})");
        }
        var keepLines = facts.OthersFromAddress.Count > 0;
        var plan = new RemovalPlan
        {
            Facts = facts, NewSynchronousStandbyNames = newSync, Stop = running, DropSlot = drop,
            NewSynchronizedStandbySlots = FailoverSlots.Without(facts.SynchronizedStandbySlots, facts.SlotName),
            HbaLinesToRemove = keepLines ? Array.Empty<string>() : facts.HbaLines,
            Empty = emptyDataDirectory && directory is { Kind: not DataDirectoryKind.Empty },
        };
        if (newSync is not null)
            plan.Steps.Add($"set synchronous_standby_names on {facts.Upstream}: '{facts.SynchronousStandbyNames}' -> '{newSync}'");
        if (plan.NewSynchronizedStandbySlots is { } failoverSlots)
            plan.Steps.Add($"set synchronized_standby_slots on {facts.Upstream}: '{facts.SynchronizedStandbySlots}' -> '{failoverSlots}' (no longer a failover candidate)");
        if (plan.Stop) plan.Steps.Add($"stop {facts.Standby} (fast shutdown)");
        if (drop is not null) plan.Steps.Add(drop.Description);
        foreach (var line in plan.HbaLinesToRemove) plan.Steps.Add($"remove from {facts.HbaFile} on {facts.Upstream}: {line.Trim()}");
        if (plan.Empty)
            plan.Steps.Add($"empty {directory!.Path} on {facts.Standby} ({directory.Describe(new PgNode(facts.Upstream) { Name = facts.Upstream, SystemIdentifier = upstreamSystemIdentifier })})");
        if (keepLines && facts.HbaLines.Count > 0)
            plan.Notes.Add($"the pg_hba.conf lines for {facts.Standby}'s address stay: {string.Join(", ", facts.OthersFromAddress)} still streams from that address");
        if (!facts.Answers && directory is null) plan.Notes.Add($"{facts.Standby} does not answer and its data directory is not known: it is taken as stopped");
        return plan;
    }

    private static bool IsStandbyOf(DataDirectoryIdentity directory, ulong? system) =>
        !directory.IsSourcePrimary && !directory.OverlapsSourcePrimary && directory.StandbyMarker &&
        directory.Kind is DataDirectoryKind.Stopped or DataDirectoryKind.RunningStandby &&
        system is { } id && directory.SystemIdentifier == id.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Carries out the plan in its order; the directory is inspected again before it is emptied.</summary>
    public static void Apply(RemovalRequest request, RemovalPlan plan, IHostShell standbyShell, IOperationLog log)
    {
        var (standby, upstream) = (request.Standby, request.Upstream);
        // Through the primary settings writer: ALTER SYSTEM, reload, checked.
        void SetOnUpstream(string name, string? now, string value)
        {
            var change = new PrimaryConfigChange(PrimaryChangeKind.Setting, name, now, value, false);
            PrimaryConfig.Apply(new PrimaryConfigPlan(upstream, new[] { change }, Array.Empty<string>()), new[] { change }, false, request.Timeout, log);
        }
        if (plan.NewSynchronousStandbyNames is { } sync) SetOnUpstream(VersionRules.SynchronousStandbyNames, plan.Facts.SynchronousStandbyNames, sync);
        if (plan.NewSynchronizedStandbySlots is { } failoverSlots) SetOnUpstream(VersionRules.SynchronizedStandbySlots, plan.Facts.SynchronizedStandbySlots, failoverSlots);
        if (plan.Stop)
        {
            ServerController.Stop(standby, standbyShell, log, request.Timeout);
            log.Verbose($"{standby.Name}: stopped.");
        }
        if (plan.DropSlot is { } drop) ReplicationSlots.Drop(upstream, drop, null, log);
        if (plan.HbaLinesToRemove.Count > 0)
        {
            var changes = plan.HbaLinesToRemove.Select(l => new PrimaryConfigChange(PrimaryChangeKind.HbaRemove, plan.Facts.HbaFile!, l.Trim(), "", false) { HbaLineText = l }).ToList();
            PrimaryConfig.Apply(new PrimaryConfigPlan(upstream, changes, Array.Empty<string>()), changes, false, request.Timeout, log);
        }
        if (plan.Empty)
        {
            var directory = plan.Facts.Directory!;
            using var upstreamShell = TryOpen(upstream, log);
            var now = DataDirectoryGuard.Inspect(standbyShell, standby.Name, directory.Path, standby.OsUser, standby.BinDirectory,
                standby.MajorVersion ?? upstream.MajorVersion ?? VersionRules.NewestMajor, upstreamShell is null ? null : upstream, upstreamShell);
            if (now.Kind != DataDirectoryKind.Stopped || !IsStandbyOf(now, upstream.SystemIdentifier))
                throw new RemovalRefusedException(ErrorReasons.DataDirectoryRefused,
                    $"On {standby.Name}, {now.Path} is {now.Describe(upstream)} now, not a stopped standby of {upstream.Name}: it was not emptied.");
            DataDirectoryGuard.EnsureMayReplace(now, upstream, force: true, "empty", "");
            BaseBackup.EmptyDirectory(standbyShell, now.Path, standby.OsUser, log, standby.Name);
        }
    }

    private static HashSet<string> Addresses(PgNode standby, StandbyPosition position)
    {
        var addresses = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var bare = standby.ComputerName.Trim('[', ']');
        if (IPAddress.TryParse(bare, out var ip)) addresses.Add((ip.IsIPv4MappedToIPv6 ? ip.MapToIPv4() : ip).ToString());
        else
        {
            try { foreach (var a in Dns.GetHostAddresses(bare)) addresses.Add((a.IsIPv4MappedToIPv6 ? a.MapToIPv4() : a).ToString()); }
            catch (System.Net.Sockets.SocketException) { }
        }
        return addresses;
    }

    private static IHostShell? TryOpen(PgNode node, IOperationLog log)
    {
        try { return HostShells.Open(node, log); }
        catch (Exception ex) when (ex is HostCommandException or SshHostKeyException or InvalidOperationException or IOException)
        {
            log.Verbose($"{node.Name}: no shell ({ex.Message}); its directory is compared by system identifier only.");
            return null;
        }
    }

    private static Dictionary<string, string> TryParse(string conninfo)
    {
        try { return Conninfo.Parse(conninfo); } catch (FormatException) { return new(); }
    }
}
