using System.Net;
using PgReplication.Core.Config;
using PgReplication.Core.Hosts;
using PgReplication.Core.Model;
using PgReplication.Core.Sql;
using PgReplication.Core.Versions;

namespace PgReplication.Core.Operations;

public sealed class FollowRequest
{
    public required PgNode Standby { get; init; }
    /// <summary>The node to follow: a primary, or another standby for a cascade.</summary>
    public required PgNode Primary { get; init; }
    /// <summary>The replication role; by default the one the standby already uses (from its own passfile).</summary>
    public NetworkCredential? Replication { get; init; }
    public string? SlotName { get; init; }
    /// <summary>restore_command to keep or set (a rejoin: the node's own or the cluster's archive-get); null leaves it as it is.</summary>
    public string? RestoreCommand { get; init; }
    public TimeSpan Timeout { get; init; } = TimeSpan.FromMinutes(2);
    /// <summary>
    /// Set by a promotion: <see cref="Primary"/> is the candidate being promoted while this standby's plan is made, so the
    /// plan reads a copy of it (the promotion changes the node itself) and its new timeline is checked by Apply.
    /// </summary>
    public UpstreamPromotion? DuringPromotion { get; init; }
}

/// <summary>
/// The promotion a follow's plan is made during. Its session to the candidate went back to the pool with this connect
/// timeout: Apply takes that connection again for the timeline check and the slot, with no new login.
/// </summary>
public sealed record UpstreamPromotion(TimeSpan PooledConnectTimeout);

/// <summary>A standby whose WAL history has forked past the new upstream's: it cannot just follow.</summary>
public sealed class TimelineDivergedException : RefusedException
{
    public TimelineDivergedException(PgNode standby, string message) : base(ErrorReasons.TimelineDiverged, message, standby) { }
}

public sealed class FollowPlan
{
    public required FollowRequest Request { get; init; }
    /// <summary>What the standby's plan was made with; its Primary is a copy of the upstream during a promotion. Null for a <see cref="Repoint"/>.</summary>
    public HotStandbyRequest? StandbyRequest { get; init; }
    /// <summary>The SSH way: files on the standby's host checked and written (HotStandby). Null for a <see cref="Repoint"/>.</summary>
    public HotStandbyPlan? StandbyPlan { get; init; }
    /// <summary>The SQL way during a promotion: ALTER SYSTEM and a reload, nothing on the standby's host to change (ReloadFollow).</summary>
    internal ReloadRepoint? Repoint { get; init; }
    /// <summary>Made during a promotion: whether the standby can follow the new timeline is checked once there is one.</summary>
    internal StandbyPosition? TimelineCheckAfterPromotion { get; init; }
    public string? SlotToCreate { get; init; }
    /// <summary>Replay is paused: the startup process would never pick up the new upstream or its timeline.</summary>
    public bool ResumeReplay { get; init; }
    /// <summary>The slot this standby used on its previous upstream: dropped once it streams from the new one.</summary>
    public (PgNode Upstream, string Slot)? OldUpstreamSlot { get; init; }
    /// <summary>The replication line the upstream's pg_hba.conf lacks for this standby, if any.</summary>
    public PrimaryConfigPlan? UpstreamHba { get; init; }
    public List<string> Steps { get; } = new();
    public bool ChangesNothing => SlotToCreate is null && !ResumeReplay && UpstreamHba is null &&
                                  (Repoint is { } repoint ? repoint.Changes.Count == 0 : StandbyPlan!.ChangesNothing);
}

/// <summary>A follow's plan made by <see cref="StandbyFollow.PrepareAll"/>, or why it could not be made.</summary>
public sealed class PreparedFollow : IDisposable
{
    public required FollowRequest Request { get; init; }
    public FollowPlan? Plan { get; init; }
    /// <summary>The standby's shell the plan was made with, and Apply uses; none for a re-point over SQL.</summary>
    public IHostShell? Shell { get; init; }
    /// <summary>The shell opened for this follow (the early one had failed): closed with it.</summary>
    public IHostShell? OpenedShell { get; init; }
    public Exception? Failure { get; init; }
    public void Dispose() => OpenedShell?.Dispose();
}

/// <summary>Re-points a standby to a new upstream: slot, primary_conninfo, reload (13+) or restart, streaming checked.</summary>
public static class StandbyFollow
{
    public static FollowPlan Prepare(FollowRequest request, IHostShell shell, IOperationLog log) =>
        Prepare(request, new Lazy<Task<IHostShell>>(Task.FromResult(shell)), log);

    /// <param name="opening">The standby's shell, logged in when first asked for: the plan's reads over SQL start before it
    /// is needed, and a re-point over SQL (<see cref="ReloadFollow"/>) never asks for it.</param>
    private static FollowPlan Prepare(FollowRequest request, Lazy<Task<IHostShell>> opening, IOperationLog log)
    {
        var standby = request.Standby;
        // During a promotion the candidate's node is the promotion's to change (its role and timeline): the plan reads a
        // copy, whose facts the promotion's own reads filled in, and does not discover it again.
        var promoting = request.DuringPromotion is not null;
        var primary = promoting ? NodeFactory.Copy(request.Primary) : request.Primary;
        // What needs no shell starts first (a login to the standby started by the caller may still run; during a
        // promotion none is started yet): both servers' state and what the plan decides from on the upstream (its
        // pg_hba.conf, its slots).
        var positionRead = Concurrently.Start(() => StandbyPositions.Read(standby, log));
        var primaryRead = promoting ? null : Concurrently.Start(() => NodeDiscovery.Discover(primary, log));
        var upstreamCopy = NodeFactory.Copy(primary);
        var upstreamRead = Concurrently.Start(() => ReadUpstream(upstreamCopy, request.DuringPromotion?.PooledConnectTimeout, log));
        // During a promotion a running standby whose login already serves the candidate is re-pointed over SQL alone: no
        // SSH login on the way to its streaming again (measured, issue 19: the login and its first command took 0.3 s).
        if (promoting && PrepareReload(request, primary, positionRead, upstreamRead, log) is { } reload) return reload;
        var shell = opening.Value.Join();
        // The standby's own plan reads (its programs, its data directory, its files in one command) start as soon as the
        // shell is there, and this plan reads the same files there: its settings and passfile come with them.
        var standbyReads = StartStandbyReads(standby, shell);
        var position = positionRead.Join();
        if (position.Reachable && !position.InRecovery)
            throw new InvalidOperationException($"{standby.Name} is a primary, not a standby: a primary never follows another one (writes on two primaries, master-master, is not " +
                "what this module does: see about_PgReplication, WHAT THIS MODULE DOES NOT DO). Use Restore-PgStandby to turn a former primary into a standby.");
        if (standby.DataDirectory is null)
        {
            NodeDiscovery.Discover(standby, log);
            standbyReads = StartStandbyReads(standby, shell);
        }
        var files = standbyReads?.Files ?? new HostFileReads(shell, standby.OsUser);
        var recoverySettings = Concurrently.Start(() => RecoverySettingsFile(standby, files));
        primaryRead?.Join();
        if (standby.SystemIdentifier is { } a && primary.SystemIdentifier is { } b && a != b)
            throw new InvalidOperationException($"{standby.Name} (system {a}) is not a copy of {primary.Name} (system {b}): it cannot follow it.");
        if (position.Reachable && !promoting)
        {
            using var upstreamSession = PgSession.Open(primary, log: log);
            EnsureCanFollow(standby, position, primary, upstreamSession);
        }

        var settings = recoverySettings.Join();
        var replication = request.Replication ?? CurrentReplicationCredential(standby, files, settings)
            ?? throw new ArgumentException($"No replication role for {standby.Name}: give -Credential (its passfile has no entry for its current upstream).");
        var oldSlot = Setting(settings, "primary_slot_name");
        var slot = SlotNames.ForFollower(standby, request.SlotName, configured: oldSlot);
        SlotNames.Validate(slot);

        var standbyRequest = new HotStandbyRequest
        {
            Standby = standby, Primary = primary, Replication = replication, SlotName = slot, RestoreCommand = request.RestoreCommand, Timeout = request.Timeout,
        };
        var overTls = Concurrently.Start(() => TlsFiles.HasRootCertificate(standby, files));
        var standbyPlan = HotStandby.Prepare(standbyRequest, shell, log, standbyReads);
        var upstream = upstreamRead.Join();
        // 17+: a failover candidate of the new upstream (its slot listed there) logs in to its database too.
        var hba = AdmissionPlan(PrimaryConfig.PlanFollowerAdmission(primary, upstream.Admission, new[] { standby.ComputerName }, replication.UserName,
            NullOperationLog.Instance, overTls.Join(), syncsSlots: standbyPlan.FailoverCandidate));

        return NewPlan(request, primary, position, upstream.Slots.Contains(slot) ? null : slot, oldSlot, hba, standbyPlan.Steps,
            standbyRequest, standbyPlan, repoint: null);
    }

    /// <summary>The re-point over SQL when <see cref="ReloadFollow.Decide"/> allows it; otherwise null, and the SSH way follows.</summary>
    private static FollowPlan? PrepareReload(FollowRequest request, PgNode primary, Task<StandbyPosition> positionRead, Task<UpstreamFacts> upstreamRead,
        IOperationLog log)
    {
        var standby = request.Standby;
        var facts = ReloadFollow.Read(standby, log);
        var position = positionRead.Join();
        if (!position.Reachable || !position.InRecovery) return null; // the SSH way says why, as before
        if (standby.SystemIdentifier is { } a && primary.SystemIdentifier is { } b && a != b) return null;
        var (repoint, whyNot) = ReloadFollow.Decide(standby, standby.MajorVersion, primary, facts, request,
            credentialIsTheNodes: ReferenceEquals(request.Replication, standby.ReplicationCredential));
        if (repoint is null)
        {
            log.Verbose($"{standby.Name}: re-pointed over SSH, not over SQL alone: {whyNot}.");
            return null;
        }
        var upstream = upstreamRead.Join();
        var hba = AdmissionPlan(PrimaryConfig.PlanFollowerAdmission(primary, upstream.Admission, new[] { standby.ComputerName }, repoint.ReplicationUser,
            NullOperationLog.Instance, repoint.OverTls, syncsSlots: repoint.SyncsSlots));
        var steps = repoint.Changes.Count == 0
            ? new List<string>()
            : new List<string> { $"set {string.Join(" and ", repoint.Changes.Keys)} on {standby.Name} with ALTER SYSTEM and reload it ({repoint.Reason})" };
        return NewPlan(request, primary, position, upstream.Slots.Contains(repoint.Slot) ? null : repoint.Slot, repoint.OldSlot, hba, steps,
            standbyRequest: null, standbyPlan: null, repoint);
    }

    /// <summary>What both ways share: the upstream's slot and pg_hba lines, the old upstream's slot, a paused replay.</summary>
    private static FollowPlan NewPlan(FollowRequest request, PgNode primary, StandbyPosition position, string? slotToCreate, string? oldSlot,
        PrimaryConfigPlan? hba, IEnumerable<string> standbySteps, HotStandbyRequest? standbyRequest, HotStandbyPlan? standbyPlan, ReloadRepoint? repoint)
    {
        var standby = request.Standby;
        var plan = new FollowPlan
        {
            Request = request, StandbyRequest = standbyRequest, StandbyPlan = standbyPlan, Repoint = repoint,
            TimelineCheckAfterPromotion = request.DuringPromotion is not null && position.Reachable ? position : null,
            SlotToCreate = slotToCreate, ResumeReplay = position.ReplayPaused, UpstreamHba = hba,
            OldUpstreamSlot = position.UpstreamHost is { } oldHost && oldSlot is not null &&
                              (oldHost != primary.ComputerName || (position.UpstreamPort ?? PgNode.DefaultPort) != primary.Port)
                ? (NodeFactory.Like(standby, oldHost, position.UpstreamPort ?? PgNode.DefaultPort), oldSlot) : null,
        };
        if (plan.OldUpstreamSlot is ({ } oldUpstream, { } leftSlot))
            plan.Steps.Add($"drop the slot {leftSlot} on the old upstream {oldUpstream.Name} if it answers and no one uses it (it would hold WAL there)");
        foreach (var line in HbaLines(hba)) plan.Steps.Add($"{line.Description} on {primary.Name}");
        if (position.ReplayPaused) plan.Steps.Add($"resume the paused WAL replay on {standby.Name} (a paused standby cannot switch to the new timeline)");
        if (slotToCreate is not null) plan.Steps.Add($"create the physical slot {slotToCreate} on {primary.Name}");
        plan.Steps.AddRange(standbySteps);
        return plan;
    }

    /// <summary>Carries out the plan; <paramref name="shell"/> is the standby's, the one Prepare was given (none for a re-point over SQL).</summary>
    public static PgNode Apply(FollowPlan plan, IHostShell? shell, IOperationLog log)
    {
        // The upstream itself, not the copy a plan made during a promotion read: it has the new timeline now.
        var (standby, primary, timeout) = (plan.Request.Standby, plan.Request.Primary, plan.Request.Timeout);
        if (plan.TimelineCheckAfterPromotion is not null || plan.SlotToCreate is not null)
        {
            var promotion = plan.Request.DuringPromotion;
            using var upstream = PgSession.Open(primary, log: log, connectTimeout: promotion?.PooledConnectTimeout, pooled: promotion is not null);
            if (plan.TimelineCheckAfterPromotion is { } position) EnsureCanFollow(standby, position, primary, upstream);
            if (plan.SlotToCreate is { } slot) ReplicationSlots.Create(upstream, primary, slot, log);
        }
        if (plan.UpstreamHba is { } hba) AddUpstreamHbaLines(hba, timeout, log);
        if (plan.ResumeReplay)
        {
            using var session = PgSession.Open(standby, log: log);
            session.Scalar<object>("SELECT pg_catalog.pg_wal_replay_resume()");
            log.Warning($"{standby.Name}: resumed its paused WAL replay, so it can follow {primary.Name}.");
        }
        PgNode node;
        if (plan.Repoint is { } repoint)
        {
            node = ReloadFollow.Apply(repoint, standby, primary, timeout, log);
            node.SlotName = repoint.Slot;
        }
        else
        {
            var request = plan.StandbyRequest!.WithPrimary(primary);
            node = HotStandby.Apply(request, plan.StandbyPlan!, shell ?? throw new ArgumentNullException(nameof(shell)), log);
            node.SlotName = request.SlotName;
        }
        WaitForTimeline(node, primary, timeout, log);
        if (plan.OldUpstreamSlot is ({ } oldUpstream, { } oldSlot)) DropLeftSlot(oldUpstream, oldSlot, log);
        return node;
    }

    /// <summary>Best effort: an old upstream that is down keeps its slot (Get-PgReplicationTopology and the kit show it).</summary>
    private static void DropLeftSlot(PgNode oldUpstream, string slot, IOperationLog log)
    {
        try
        {
            using var session = PgSession.Open(oldUpstream, log: log, connectTimeout: TimeSpan.FromSeconds(3));
            var dropped = session.Scalar<bool>("""
                SELECT pg_catalog.count(pg_catalog.pg_drop_replication_slot(s.slot_name)) > 0
                  FROM pg_catalog.pg_replication_slots s WHERE s.slot_name = @slot AND NOT s.active
                """, ("slot", slot));
            if (dropped) log.Verbose($"{oldUpstream.Name}: dropped the slot {slot}, which no standby uses now.");
        }
        catch (Exception ex) when (ex is PgConnectionException or PgQueryException)
        {
            log.Verbose($"Left the slot {slot} on {oldUpstream.Name}: {ex.Message}");
        }
    }

    /// <summary>
    /// The replication line the new upstream's pg_hba.conf lacks for this standby, or null: the upstream was set up for
    /// other standbys (a former primary, or a cluster built by hand has lines only for the standbys of its first primary).
    /// </summary>
    /// <param name="requireSsl">The standby connects with TLS (Enable-PgReplicationSsl gave its host a root.crt): its line is hostssl.</param>
    /// <param name="syncsSlots">17+: the standby is a failover candidate of the upstream (its database line too).</param>
    internal static PrimaryConfigPlan? UpstreamHbaPlan(PgNode upstream, PgNode standby, string role, bool requireSsl = false, bool syncsSlots = false) =>
        AdmissionPlan(PrimaryConfig.PlanFollowerAdmission(upstream, new[] { standby.ComputerName }, role, NullOperationLog.Instance, requireSsl, syncsSlots));

    private static PrimaryConfigPlan? AdmissionPlan(PrimaryConfigPlan hba) => hba.Changes.Count > 0 ? hba : null;

    /// <summary>What a follow's plan decides from on its new upstream, read on one session.</summary>
    private sealed record UpstreamFacts(AdmissionFacts Admission, IReadOnlySet<string> Slots);

    /// <param name="node">A copy of the upstream: the read discovers it while the caller's own reads fill in the node.</param>
    /// <param name="pooledConnectTimeout">During a promotion: the pool its session to the candidate went back to, reused by Apply.</param>
    private static UpstreamFacts ReadUpstream(PgNode node, TimeSpan? pooledConnectTimeout, IOperationLog log)
    {
        using var session = PgSession.Open(node, log: log, connectTimeout: pooledConnectTimeout, pooled: true);
        var admission = PrimaryConfig.ReadAdmissionFacts(node, session, NullOperationLog.Instance);
        var slots = session.Query(ReplicationStateReader.SlotsQuery(node.MajorVersion)).Select(r => r.Text("slot_name")!).ToHashSet(StringComparer.Ordinal);
        return new UpstreamFacts(admission, slots);
    }

    /// <summary>Adds the lines <see cref="UpstreamHbaPlan"/> found missing.</summary>
    internal static void AddUpstreamHbaLines(PrimaryConfigPlan hba, TimeSpan timeout, IOperationLog log) =>
        PrimaryConfig.Apply(hba, HbaLines(hba), restart: false, timeout, log);

    private static IReadOnlyCollection<PrimaryConfigChange> HbaLines(PrimaryConfigPlan? plan) =>
        plan?.Changes.Where(c => c.Kind == PrimaryChangeKind.HbaLine).ToList() ?? new List<PrimaryConfigChange>();

    /// <summary>
    /// Logins to the followers, started now so they overlap what comes before the follow (a promotion): they do not
    /// depend on it. Give the result to <see cref="PrepareAll"/> or <see cref="FollowAll"/>, then to <see cref="CloseShells"/>.
    /// </summary>
    public static IReadOnlyDictionary<PgNode, Task<IHostShell>> OpenShells(IEnumerable<PgNode> followers, IOperationLog log) =>
        followers.Distinct().ToDictionary(f => f, f => Concurrently.Start(() => HostShells.Open(f, log)));

    /// <summary>
    /// Makes the plans of several follows at once, each on a thread of its own, and returns without waiting for them: a
    /// promotion makes its siblings' plans while the candidate is promoted (<see cref="FollowRequest.DuringPromotion"/>),
    /// so after it only their changes remain. Give the result to <see cref="ApplyAll"/>, or to <see cref="Abandon"/> when
    /// the plans will not be carried out. A shell that could not be opened early is opened again here, and a failure to
    /// open it or to plan becomes that follower's outcome.
    /// </summary>
    /// <param name="shells">Logins started early (<see cref="OpenShells"/>); null: none, each plan logs in when it needs to.</param>
    public static IReadOnlyList<Task<PreparedFollow>> PrepareAll(IReadOnlyList<FollowRequest> requests, IReadOnlyDictionary<PgNode, Task<IHostShell>>? shells,
        IOperationLog log) =>
        requests.Select(request => Concurrently.Start(() =>
        {
            IHostShell? opened = null;
            try
            {
                // The shell is joined inside the plan, after its reads over SQL started; one that could not be opened early
                // is opened again there.
                var early = shells?.GetValueOrDefault(request.Standby);
                var shell = new Lazy<Task<IHostShell>>(() => Concurrently.Start(() =>
                {
                    if (early is not null)
                        try { return early.Join(); }
                        catch (Exception ex) when (ex is not OperationCanceledException) { log.Verbose($"{request.Standby.Name}: {ex.Message}; trying again."); }
                    return opened = HostShells.Open(request.Standby, log);
                }));
                var plan = Prepare(request, shell, log);
                return new PreparedFollow { Request = request, Plan = plan, Shell = shell.IsValueCreated ? shell.Value.Join() : null, OpenedShell = opened };
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                opened?.Dispose();
                return new PreparedFollow { Request = request, Failure = ex };
            }
        })).ToList();

    /// <summary>
    /// Carries out the plans of <see cref="PrepareAll"/>, each on a thread of its own: a slow or unreachable follower does
    /// not hold up the others. Outcomes come back in the order of the requests; a failure is an outcome, not an exception.
    /// </summary>
    public static IReadOnlyList<FollowOutcome> ApplyAll(IReadOnlyList<Task<PreparedFollow>> prepared, IOperationLog log)
    {
        var applies = prepared.Select(preparing => Concurrently.Start(() =>
        {
            using var follow = preparing.Join();
            try
            {
                if (follow.Failure is { } failed) return Failed(follow.Request, failed, log);
                var node = Apply(follow.Plan!, follow.Shell, log);
                return new FollowOutcome { Standby = node.Name, Upstream = follow.Request.Primary.Name, Streaming = true, Timeline = node.Timeline, Node = node };
            }
            catch (Exception ex) when (ex is not OperationCanceledException) { return Failed(follow.Request, ex, log); }
        })).ToList();
        return applies.Select(a => a.Join()).ToList();
    }

    /// <summary>Plans and carries out several follows at once (<see cref="PrepareAll"/>, then <see cref="ApplyAll"/>).</summary>
    public static IReadOnlyList<FollowOutcome> FollowAll(IReadOnlyList<FollowRequest> requests, IReadOnlyDictionary<PgNode, Task<IHostShell>> shells,
        IOperationLog log) => ApplyAll(PrepareAll(requests, shells, log), log);

    /// <summary>Plans that will not be carried out (the promotion failed): waits for them to end and closes what they opened.</summary>
    public static void Abandon(IReadOnlyList<Task<PreparedFollow>> prepared)
    {
        foreach (var preparing in prepared) preparing.Join().Dispose();
    }

    private static FollowOutcome Failed(FollowRequest request, Exception ex, IOperationLog log)
    {
        log.Warning($"{request.Standby.Name} could not follow {request.Primary.Name}: {ex.Message}");
        return new FollowOutcome
        {
            Standby = request.Standby.Name, Upstream = request.Primary.Name, Streaming = false, Error = ex.Message, Node = request.Standby,
            Remedy = ex is TimelineDivergedException
                ? $"Restore-PgStandby -Primary {request.Primary.Name} (pg_rewind, or -Reclone for a new copy)"
                : "fix the cause, then Set-PgStandbyUpstream -Primary " + request.Primary.Name,
        };
    }

    /// <summary>Closes the shells <see cref="OpenShells"/> opened (those that did open).</summary>
    public static void CloseShells(IReadOnlyDictionary<PgNode, Task<IHostShell>> shells)
    {
        foreach (var opening in shells.Values)
            if (opening.IsCompletedSuccessfully) opening.Result.Dispose();
            else _ = opening.ContinueWith(t => { if (t.IsCompletedSuccessfully) t.Result.Dispose(); }, TaskScheduler.Default);
    }

    /// <summary>
    /// Refuses a standby that replayed past the point where the new upstream's timeline forked from its own:
    /// it would wait forever for WAL that cannot come (PostgreSQL logs "requested timeline is not a child").
    /// </summary>
    private static void EnsureCanFollow(PgNode standby, StandbyPosition position, PgNode primary, PgSession primarySession)
    {
        if (position.Timeline is not { } standbyTli || primary.Timeline is not { } primaryTli || standbyTli == primaryTli) return;
        var replayed = Lsn.Parse(position.ReplayLsn) ?? 0;
        var history = TimelineHistory.Parse(primarySession.Scalar<string>(
            "SELECT pg_catalog.pg_read_file('pg_wal/' || @file, 0, 10485760, true)", ("file", TimelineHistory.FileName(primaryTli))));
        if (TimelineHistory.CanFollow(standbyTli, replayed, primaryTli, history)) return;
        var fork = TimelineHistory.SwitchPointOf(standbyTli, history);
        throw new TimelineDivergedException(standby, fork is { } f
            ? $"{standby.Name} replayed timeline {standbyTli} up to {position.ReplayLsn}, past {Lsn.Format(f)} where {primary.Name}'s timeline {primaryTli} forked off: its history diverged."
            : $"{standby.Name} is on timeline {standbyTli}, which is not in the history of {primary.Name}'s timeline {primaryTli}.");
    }

    /// <summary>
    /// The replication role the standby uses now, found where libpq finds it: the user in its primary_conninfo (else its OS
    /// user), the password in primary_conninfo itself, else the first matching line of the passfile it names (else
    /// ~/.pgpass). A cluster built by hand often has the password in primary_conninfo and a stale wildcard line in ~/.pgpass.
    /// </summary>
    internal static NetworkCredential? CurrentReplicationCredential(PgNode standby, IHostShell shell)
    {
        var files = new HostFileReads(shell, standby.OsUser);
        return CurrentReplicationCredential(standby, files, RecoverySettingsFile(standby, files));
    }

    private static NetworkCredential? CurrentReplicationCredential(PgNode standby, HostFileReads files, IReadOnlyDictionary<string, string> settings)
    {
        var conninfoText = Setting(settings, "primary_conninfo");
        if (conninfoText is null) return null;
        var conninfo = Conninfo.Parse(conninfoText);
        if (!conninfo.TryGetValue("host", out var host)) return null;
        var user = conninfo.GetValueOrDefault("user") is { Length: > 0 } u ? u : standby.OsUser;
        if (conninfo.GetValueOrDefault("password") is { Length: > 0 } inline) return new NetworkCredential(user, inline);
        var port = conninfo.TryGetValue("port", out var p) && int.TryParse(p, out var n) ? n : PgNode.DefaultPort;
        var passFile = conninfo.GetValueOrDefault("passfile") ?? RemotePath.Join(files.Home, ".pgpass");
        var password = PassFile.Find(files.ReadTextOrEmpty(passFile), host, port, user);
        return password is null ? null : new NetworkCredential(user, password);
    }

    /// <summary>The recovery settings as the standby's config file has them (postgresql.auto.conf from 12, recovery.conf before); empty when unknown.</summary>
    internal static IReadOnlyDictionary<string, string> RecoverySettingsFile(PgNode standby, IHostShell shell) =>
        RecoverySettingsFile(standby, new HostFileReads(shell, standby.OsUser));

    private static IReadOnlyDictionary<string, string> RecoverySettingsFile(PgNode standby, HostFileReads files)
    {
        if (standby.DataDirectory is not { } data || standby.MajorVersion is not { } major) return new Dictionary<string, string>();
        var file = HotStandby.RecoveryConfigFile(data, major);
        var settings = OfflineSettings.Read(files.ReadTextOrEmpty(file));
        // Patroni moves the recovery settings out of postgresql.auto.conf into the postgresql.conf it writes, where they
        // stay after Disable-PgAutoFailover: read there when postgresql.auto.conf has none (its own values win).
        if (settings.ContainsKey("primary_conninfo") || standby.ConfigFile is not { } main || main == file) return settings;
        var merged = new Dictionary<string, string>(OfflineSettings.Read(files.ReadTextOrEmpty(main)), StringComparer.OrdinalIgnoreCase);
        foreach (var (name, value) in settings) merged[name] = value;
        return merged;
    }

    private static StandbyReads? StartStandbyReads(PgNode standby, IHostShell shell) =>
        standby.DataDirectory is not null && standby.MajorVersion is { } major ? HotStandby.StartReads(standby, shell, major) : null;

    private static string? Setting(IReadOnlyDictionary<string, string> settings, string name) =>
        settings.GetValueOrDefault(name) is { Length: > 0 } value ? value : null;

    /// <summary>Waits until the WAL receiver streams on the upstream's current timeline.</summary>
    private static void WaitForTimeline(PgNode standby, PgNode primary, TimeSpan timeout, IOperationLog log)
    {
        var deadline = DateTime.UtcNow + timeout;
        // The wait for streaming discovered the standby last: most often it is on the new timeline already.
        while (standby.Timeline != primary.Timeline)
        {
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"{standby.Name} streams from {primary.Name} but is still on timeline {standby.Timeline}, not {primary.Timeline}, after {timeout.TotalSeconds:0} s.");
            Thread.Sleep(ServerController.PollInterval);
            NodeDiscovery.Discover(standby, NullOperationLog.Instance);
        }
    }
}
