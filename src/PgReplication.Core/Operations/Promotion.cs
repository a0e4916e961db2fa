using System.Diagnostics;
using System.Net;
using PgReplication.Core.Config;
using PgReplication.Core.Hosts;
using PgReplication.Core.Model;
using PgReplication.Core.Sql;
using PgReplication.Core.Versions;

namespace PgReplication.Core.Operations;

/// <summary>A promotion or switchover refused by its preflight (PrimaryStillAlive, CandidateBehind, NotSynchronous, ...).</summary>
public sealed class PromotionRefusedException : RefusedException
{
    public PromotionRefusedException(string reason, string message, PgNode? node = null) : base(reason, message, node) { }
}

/// <summary>A candidate's cluster is Patroni's (its marker was read with the candidates' positions): nothing was planned.</summary>
public sealed class ManagedByPatroniException : RefusedException
{
    public ManagedByPatroniException(PgNode node, PatroniMarker marker)
        : base(ErrorReasons.ManagedByPatroni, $"Patroni manages {node.Name}'s cluster (scope {marker.Scope}) and fails over by itself when the primary is lost.", node) =>
        Marker = marker;
    public PatroniMarker Marker { get; }
}

public sealed class PromotionRequest
{
    public required IReadOnlyList<PgNode> Candidates { get; init; }
    /// <summary>The old primary, when the caller knows it; otherwise found from the candidates' primary_conninfo.</summary>
    public PgNode? OldPrimary { get; init; }
    /// <summary>Insist on this candidate (its Name or ComputerName).</summary>
    public string? Name { get; init; }
    public IReadOnlyList<PgNode> Siblings { get; init; } = Array.Empty<PgNode>();
    public bool Force { get; init; }
    public bool FenceOldPrimary { get; init; }
    public NetworkCredential? Replication { get; init; }
    public TimeSpan Timeout { get; init; } = TimeSpan.FromMinutes(2);
    /// <summary>How long the old primary gets to answer before it counts as gone.</summary>
    public TimeSpan ProbeTimeout { get; init; } = TimeSpan.FromSeconds(3);
}

/// <summary>What the preflight found and what promotion will do (what -WhatIf prints).</summary>
public sealed class PromotionPlan
{
    public required StandbyPosition Chosen { get; init; }
    public required IReadOnlyList<StandbyPosition> Positions { get; init; }
    public PgNode? OldPrimary { get; init; }
    /// <summary>True when the old primary answered as a primary (allowed with -Force or -FenceOldPrimary).</summary>
    public bool OldPrimaryAlive { get; init; }
    public IReadOnlyList<PgNode> Followers { get; init; } = Array.Empty<PgNode>();
    /// <summary>A candidate is already the primary (a second run): nothing is promoted.</summary>
    public bool AlreadyPromoted { get; init; }
    public List<string> Steps { get; } = new();
}

/// <summary>Chooses the most advanced standby, promotes it, and re-points the others to it.</summary>
public static class Promotion
{
    public static PromotionPlan Prepare(PromotionRequest request, IOperationLog log)
    {
        if (request.Candidates.Count == 0)
            throw new PromotionRefusedException(ErrorReasons.NoCandidate, "No standby was given to promote.");
        // The old primary, when already known, is probed while the candidates are read: after a crash the probe (a new
        // login, refused or timed out) cost as much as the reads (issue 19). Its answer counts only if the old primary
        // found below is the one probed, with the same credential; otherwise it is probed again, as before.
        var early = EarlyProbeTarget(request);
        var earlyProbe = early is { } e
            ? Concurrently.Start(() => StandbyPositions.AnswersAsPrimary(e.Node, log, request.ProbeTimeout, e.Credential))
            : null;
        var positions = Concurrently.Map(request.Candidates, c => StandbyPositions.Read(c, log, CandidateConnectTimeout(request), pooled: true));
        foreach (var p in positions) log.Verbose("Candidate " + p);
        // Read with the positions, not before them: after a crash each round trip to a candidate is a wait.
        if (positions.FirstOrDefault(p => p.ManagedBy is not null) is { } managed) throw new ManagedByPatroniException(managed.Node, managed.ManagedBy!);

        if (DecidedByPositions(positions, request) is { } rerun) return rerun;
        var reachable = positions.Where(p => p.Reachable).ToList();

        var oldPrimary = request.OldPrimary ?? OldPrimaryFromConninfo(reachable, request.Candidates);
        var alive = false;
        if (oldPrimary is not null)
        {
            PgNode.ShareAdminCredential(reachable[0].Node, oldPrimary);
            var answers = earlyProbe is not null && early is { } probed && IsSameProbe(probed, oldPrimary)
                ? earlyProbe.Join()
                : StandbyPositions.AnswersAsPrimary(oldPrimary, log, request.ProbeTimeout);
            alive = answers != false;
            if (alive && !request.Force && !request.FenceOldPrimary)
                throw new PromotionRefusedException(ErrorReasons.PrimaryStillAlive,
                    $"The old primary {oldPrimary.Name} ({oldPrimary.ComputerName}:{oldPrimary.Port}) still answers" +
                    (answers == true ? " as a primary" : "") + ": promoting now would give two primaries. " +
                    "Stop it, use -FenceOldPrimary to stop it and keep it from starting as a primary, or -Force.", oldPrimary);
            log.Verbose(alive ? $"The old primary {oldPrimary.Name} still answers; it will be {(request.FenceOldPrimary ? "fenced" : "left running (-Force)")}."
                              : $"The old primary {oldPrimary.Name} does not answer.");
        }

        var syncNames = SynchronousStandbyNames.Parse(SyncSettingOf(oldPrimary, alive, reachable, log));
        // 17+: the failover logical slots each candidate holds synced (a promoted one without them strands their subscribers).
        var slots = FailoverSlots.ReadForPromotion(reachable, oldPrimary, alive, log);
        var chosen = Choose(reachable, syncNames, request.Name, request.Force, positions, slots);
        foreach (var delayed in reachable.Where(p => p != chosen && p.ApplyDelay > TimeSpan.Zero))
            log.Verbose($"{delayed.Node.Name} is a delayed standby (recovery_min_apply_delay {StandbyReplay.Describe(delayed.ApplyDelay)}): never chosen unless named with -Name.");

        var followers = reachable.Where(p => p != chosen).Select(p => p.Node)
            .Concat(request.Siblings.Where(s => !request.Candidates.Contains(s))).ToList();
        var plan = new PromotionPlan { Chosen = chosen, Positions = positions, OldPrimary = oldPrimary, OldPrimaryAlive = alive, Followers = followers };
        if (request.FenceOldPrimary && oldPrimary is not null)
            plan.Steps.Add($"fence the old primary {oldPrimary.Name}: stop it if it runs, and mark its data directory as a standby so it cannot start as a primary");
        if (chosen.ReplayPaused) plan.Steps.Add($"resume the paused WAL replay on {chosen.Node.Name}");
        plan.Steps.Add($"promote {chosen.Node.Name} (timeline {chosen.Timeline}, at {Lsn.Format(chosen.Position)}) with " +
                       (VersionRules.Applies(VersionRules.PgPromote, chosen.Node.MajorVersion ?? VersionRules.NewestMajor) ? "pg_promote()" : "pg_ctl promote"));
        if (chosen.Node.MajorVersion is { } chosenMajor && FailoverSlots.Supported(chosenMajor))
            plan.Steps.Add($"take {chosen.Node.Name}'s own slot out of the synchronized_standby_slots it inherited, if listed" +
                           (slots.Known.Count > 0 ? $" (its synced failover slots {string.Join(", ", slots.Known.Except(slots.MissingOn(chosen.Node)))} become usable)" : ""));
        foreach (var f in followers) plan.Steps.Add($"re-point {f.Name} to {chosen.Node.Name} and check it streams on the new timeline");
        foreach (var p in positions.Where(p => !p.Reachable)) plan.Steps.Add($"leave {p.Node.Name} alone: it does not answer");
        return plan;
    }

    /// <summary>
    /// What the candidates' positions alone decide, before the old primary is asked: two primaries or no answer are
    /// refused; a candidate that is the primary already means a second run, whose plan only re-points the siblings
    /// that do not follow it yet. Null: a promotion is still to choose.
    /// </summary>
    internal static PromotionPlan? DecidedByPositions(IReadOnlyList<StandbyPosition> positions, PromotionRequest request)
    {
        var reachable = positions.Where(p => p.Reachable).ToList();
        var primaries = reachable.Where(p => !p.InRecovery).ToList();
        if (primaries.Count > 1)
            throw new PromotionRefusedException(ErrorReasons.SplitBrain,
                $"{string.Join(" and ", primaries.Select(p => p.Node.Name))} are all primaries: fence all but one (Restore-PgStandby) before anything else.", primaries[0].Node);
        if (primaries.Count == 1)
        {
            var done = new PromotionPlan
            {
                Chosen = primaries[0], Positions = positions, AlreadyPromoted = true,
                Followers = reachable.Where(p => p != primaries[0]).Select(p => p.Node).Concat(request.Siblings.Where(s => !request.Candidates.Contains(s))).ToList(),
            };
            done.Steps.Add($"nothing to promote: {primaries[0].Node.Name} is already the primary");
            foreach (var f in done.Followers) done.Steps.Add($"make sure {f.Name} follows {primaries[0].Node.Name}");
            return done;
        }
        if (reachable.Count == 0)
            throw new PromotionRefusedException(ErrorReasons.NoCandidate,
                $"No candidate answered: {string.Join("; ", positions.Select(p => p.ToString()))}.");
        return null;
    }

    public static PromotionSummary Apply(PromotionRequest request, PromotionPlan plan, IOperationLog log)
    {
        var clock = Stopwatch.StartNew();
        var candidate = plan.Chosen.Node;
        var summary = new PromotionSummary { NewPrimary = candidate.Name, OldPrimary = plan.OldPrimary?.Name, OldTimeline = plan.Chosen.Timeline };
        if (request.FenceOldPrimary && plan.OldPrimary is not null)
            summary.OldPrimaryFenced = Fence(plan.OldPrimary, plan.OldPrimaryAlive, candidate, summary, log);

        // The followers' plans overlap the promotion (they only read the candidate, on a copy of its node): once it is
        // writable, only their changes are left, and the siblings stream sooner after it.
        if (candidate.SystemIdentifier is null) NodeDiscovery.Discover(candidate, log); // what the plans check the siblings against
        // No SSH login is started for them here: a plan logs in only when the follower cannot be re-pointed over SQL alone
        // (ReloadFollow). Measured (issue 19): logins compete with the promotion for a loaded host's CPU, and logins
        // started with the preflight made the candidate writable later with no gain for the sibling.
        var followerPlans = StandbyFollow.PrepareAll(plan.Followers.Select(follower => new FollowRequest
        {
            Standby = follower, Primary = candidate, Replication = request.Replication ?? follower.ReplicationCredential,
            Timeout = request.Timeout, DuringPromotion = new UpstreamPromotion(CandidateConnectTimeout(request)),
        }).ToList(), shells: null, log);
        var applied = false;
        try
        {
            Promote(request, plan, candidate, clock, summary, log);
            if (FailoverSlots.FixAfterPromotion(candidate, log) is { } fixedSlots) summary.Steps.Add(fixedSlots);
            applied = true;
            summary.Siblings.AddRange(StandbyFollow.ApplyAll(followerPlans, log));
        }
        finally
        {
            if (!applied) StandbyFollow.Abandon(followerPlans);
        }
        summary.TimeToSiblingsStreaming = clock.Elapsed;
        foreach (var s in summary.Siblings) summary.Steps.Add(s.ToString());
        return summary;
    }

    private static void Promote(PromotionRequest request, PromotionPlan plan, PgNode candidate, Stopwatch clock, PromotionSummary summary, IOperationLog log)
    {
        var promoteStart = clock.Elapsed;
        if (plan.AlreadyPromoted)
        {
            NodeDiscovery.Discover(candidate, log);
            summary.NewTimeline = candidate.Timeline;
            summary.Steps.Add($"{candidate.Name} was already the primary (timeline {candidate.Timeline}): nothing promoted");
            log.Verbose($"{candidate.Name} is already the primary; nothing to promote.");
        }
        else PromoteAndWait(candidate, plan.Chosen.Timeline, request.Timeout, summary, log, CandidateConnectTimeout(request));
        summary.TimeToWritable = clock.Elapsed - promoteStart;
    }

    /// <summary>Resumes a paused replay, promotes, and waits until the node accepts writes on a new timeline.</summary>
    /// <param name="pooledConnectTimeout">
    /// Given: the session comes from the pool (checked before use), where the candidate's read just left one with
    /// this same timeout, so the promotion does not wait for a new login.
    /// </param>
    internal static void PromoteAndWait(PgNode candidate, int? oldTimeline, TimeSpan timeout, PromotionSummary summary, IOperationLog log,
        TimeSpan? pooledConnectTimeout = null)
    {
        var activity = $"Promoting {candidate.Name}";
        var major = candidate.MajorVersion ?? throw new InvalidOperationException($"The version of {candidate.Name} is not known: discover it first.");
        using (var session = PgSession.Open(candidate, log: log, connectTimeout: pooledConnectTimeout, pooled: pooledConnectTimeout is not null))
        {
            if (session.Scalar<bool>("SELECT pg_catalog.pg_is_wal_replay_paused()"))
            {
                // Everything received must be replayed before the promotion ends recovery, or it is lost.
                session.Scalar<object>("SELECT pg_catalog.pg_wal_replay_resume()");
                summary.Steps.Add($"resumed the paused replay on {candidate.Name}");
                log.Verbose($"{candidate.Name}: resumed the paused WAL replay.");
            }
            log.Progress(new OperationProgress(activity, "promoting"));
            if (VersionRules.Applies(VersionRules.PgPromote, major))
            {
                // pg_promote(true) looks for the end of recovery only every 100 ms: we ask more often ourselves.
                if (SignalPromotion(session) == false)
                    throw new InvalidOperationException($"{candidate.Name} could not be sent the promotion signal (pg_promote returned false); see its server log.");
                WaitOutOfRecovery(candidate, major, session, timeout, log);
                WaitForNewTimeline(candidate, oldTimeline, timeout, activity, log, session);
            }
        }
        if (!VersionRules.Applies(VersionRules.PgPromote, major))
        {
            using (var shell = HostShells.Open(candidate, log))
                ServerController.Promote(candidate, shell, log, timeout);
            WaitForNewTimeline(candidate, oldTimeline, timeout, activity, log, session: null);
        }
        candidate.Upstream = null;
        candidate.UpstreamNode = null;
        summary.NewTimeline = candidate.Timeline;
        summary.Steps.Add($"promoted {candidate.Name}: timeline {oldTimeline} -> {candidate.Timeline}");
        log.Progress(new OperationProgress(activity, "writable", 100, Completed: true));
        log.Verbose($"{candidate.Name}: promoted, accepting writes on timeline {candidate.Timeline}.");
    }

    /// <summary>
    /// How long after a promotion signal the startup process may still be seen in its retry sleep before the signal
    /// counts as missed: it takes a signal in well under a millisecond, and two polls are 20 ms.
    /// </summary>
    internal static readonly TimeSpan MissedSignalAfter = TimeSpan.FromMilliseconds(20);

    // Whether recovery goes on, and whether the startup process sleeps out wal_retrieve_retry_interval meanwhile.
    private const string RecoveryStateQuery = """
        SELECT pg_catalog.pg_is_in_recovery() AS in_recovery,
               EXISTS (SELECT 1 FROM pg_catalog.pg_stat_activity a
                        WHERE a.backend_type = 'startup' AND a.wait_event = @retry_sleep) AS retry_sleep
        """;

    /// <summary>
    /// Polls every 10 ms until the promoted node leaves recovery. A startup process found sleeping out
    /// wal_retrieve_retry_interval after the promotion was sent is signalled again: the startup process
    /// (WaitForWALToBecomeAvailable, seen on 15) can take the promotion's wakeup in with its WAL receiver's exit, or
    /// see the promotion while its next WAL receiver is only requested, and then sleep out the rest of the interval
    /// (5 s by default) before it ends recovery. Its WAL receiver dies, and is started again, in the first tenth of a
    /// second after a primary's crash: a promotion sent then waited seconds (issue 19; docs/design.md, "A promotion
    /// right after the crash").
    /// </summary>
    private static void WaitOutOfRecovery(PgNode candidate, int major, PgSession session, TimeSpan timeout, IOperationLog log)
    {
        var sleepEvent = StandbyConfigRules.RetrieveRetryWaitEvent(major);
        var ends = DateTime.UtcNow + timeout;
        var sinceSignal = Stopwatch.StartNew();
        var signals = 1;
        while (true)
        {
            var row = session.Query(RecoveryStateQuery, ("retry_sleep", sleepEvent)).Single();
            if (!row.Get<bool>("in_recovery")) return;
            if (row.Get<bool>("retry_sleep") && sinceSignal.Elapsed >= MissedSignalAfter)
            {
                // Signalled again, the startup process wakes, finds no more WAL in pg_wal, sees the promotion and
                // ends recovery. Null: recovery had ended meanwhile.
                if (SignalPromotion(session) is null) return;
                signals++;
                log.Verbose($"{candidate.Name}: its startup process was sleeping out wal_retrieve_retry_interval after its WAL receiver stopped, " +
                            $"the promotion not acted on {sinceSignal.Elapsed.TotalMilliseconds:0} ms after it was sent: signalled it again ({signals} signals).");
                sinceSignal.Restart();
            }
            if (DateTime.UtcNow > ends)
                throw new TimeoutException($"{candidate.Name} did not finish its promotion within {timeout.TotalSeconds:0} s; see its server log.");
            Thread.Sleep(10);
        }
    }

    /// <summary>pg_promote(false): whether the signal was sent; null when the node is not in recovery (any more).</summary>
    private static bool? SignalPromotion(PgSession session)
    {
        try { return session.Scalar<bool>("SELECT pg_catalog.pg_promote(false)"); }
        catch (PgQueryException ex) when (ex.SqlState == "55000") { return null; } // recovery is not in progress
    }

    /// <summary>Rediscovers the promoted node until it is a primary on a newer timeline, on the promotion's session when it has one.</summary>
    private static void WaitForNewTimeline(PgNode candidate, int? oldTimeline, TimeSpan timeout, string activity, IOperationLog log, PgSession? session)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            if (session is null) NodeDiscovery.Discover(candidate, NullOperationLog.Instance);
            else NodeDiscovery.Discover(candidate, session, NullOperationLog.Instance);
            if (candidate.Role == NodeRole.Primary && (oldTimeline is null || candidate.Timeline > oldTimeline)) return;
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"{candidate.Name} was still {(candidate.Role == NodeRole.Primary ? $"on timeline {candidate.Timeline}" : "in recovery")} {timeout.TotalSeconds:0} s after its promotion.");
            log.Progress(new OperationProgress(activity, "waiting for the new timeline"));
            Thread.Sleep(20);
        }
    }

    /// <summary>
    /// Stops the old primary if it runs and leaves a standby marker in its data directory, so a restart
    /// (by an init system, or an admin) brings it back in recovery, never as a second primary.
    /// </summary>
    internal static bool Fence(PgNode oldPrimary, bool alive, PgNode candidate, PromotionSummary summary, IOperationLog log)
    {
        try
        {
            if (alive && oldPrimary.DataDirectory is null) NodeDiscovery.Discover(oldPrimary, log);
            if (oldPrimary.DataDirectory is null)
                throw new InvalidOperationException($"The data directory of {oldPrimary.Name} is not known: discover the node before fencing it.");
            using var shell = HostShells.Open(oldPrimary, log);
            // The inspection already knows whether a postmaster lives there: no second look.
            if (EnsureIsOldPrimary(oldPrimary, candidate, shell).IsRunning)
            {
                try { ServerController.Stop(oldPrimary, shell, log, TimeSpan.FromSeconds(30)); }
                catch (HostCommandException) { ServerController.Stop(oldPrimary, shell, log, TimeSpan.FromSeconds(30), "immediate"); }
            }
            StandbyMarker.Write(oldPrimary, shell, log);
            oldPrimary.Role = NodeRole.Unreachable;
            oldPrimary.LastError = "fenced: stopped, and marked as a standby";
            summary.Steps.Add($"fenced the old primary {oldPrimary.Name}: stopped, and marked as a standby");
            log.Verbose($"{oldPrimary.Name}: fenced (stopped; it can only start in recovery now).");
            return true;
        }
        catch (Exception ex) when (ex is HostCommandException or SshHostKeyException or InvalidOperationException)
        {
            if (alive)
                throw new PromotionRefusedException(ErrorReasons.PrimaryStillAlive,
                    $"The old primary {oldPrimary.Name} still answers and could not be fenced: {ex.Message}", oldPrimary);
            log.Warning($"The old primary {oldPrimary.Name} does not answer and could not be fenced ({ex.Message}); make sure it cannot start again as a primary.");
            return false;
        }
    }

    /// <summary>
    /// Fencing stops a server and marks its directory: only the old primary's, a cluster of the candidate's system identifier,
    /// and, where a server runs there, the one on the old primary's port (not another cluster's server on the same host).
    /// </summary>
    private static DataDirectoryIdentity EnsureIsOldPrimary(PgNode oldPrimary, PgNode candidate, IHostShell shell)
    {
        var major = oldPrimary.MajorVersion ?? candidate.MajorVersion ?? throw new InvalidOperationException($"The version of {oldPrimary.Name} is not known.");
        var target = DataDirectoryGuard.Inspect(shell, oldPrimary.Name, oldPrimary.DataDirectory!, oldPrimary.OsUser,
            ServerController.TryBinDirectory(oldPrimary, shell, out _, major), major);
        var where = $"On {oldPrimary.Name}, {target.Path} is {target.Describe(candidate)}";
        if (target.Kind is not (DataDirectoryKind.Stopped or DataDirectoryKind.RunningPrimary or DataDirectoryKind.RunningStandby) ||
            candidate.SystemIdentifier is not null && !target.SameCluster(candidate))
            throw new InvalidOperationException($"{where}: not the old primary of {candidate.Name}'s cluster, so it is not fenced.");
        if (target.IsRunning && target.PostmasterPort is { } port && port != oldPrimary.Port)
            throw new InvalidOperationException($"{where}: its server listens on port {port}, not {oldPrimary.Port}, so it is not the old primary and is not fenced.");
        return target;
    }

    private static PgNode? OldPrimaryFromConninfo(IReadOnlyList<StandbyPosition> reachable, IReadOnlyList<PgNode> candidates)
    {
        var upstream = reachable.Where(p => p.UpstreamHost is not null)
            .GroupBy(p => (p.UpstreamHost!, p.UpstreamPort ?? PgNode.DefaultPort)).OrderByDescending(g => g.Count()).FirstOrDefault();
        if (upstream is null) return null;
        var (host, port) = upstream.Key;
        // A cascading standby's upstream is another candidate, not the old primary.
        if (candidates.Any(c => c.ComputerName == host && c.Port == port)) return null;
        var template = upstream.First().Node;
        return NodeFactory.Like(template, host, port);
    }

    /// <summary>Who the early probe asks, and with which credential.</summary>
    internal readonly record struct OldPrimaryProbe(PgNode Node, NetworkCredential? Credential);

    /// <summary>
    /// The old primary as known before the candidates are read: the one given, else the upstream most of the candidates
    /// were discovered following (not another candidate: a cascade). Probed with the credential the later, sequential
    /// probe would use when the candidates share theirs. Null: nothing known, the probe waits for the positions. Pure.
    /// </summary>
    internal static OldPrimaryProbe? EarlyProbeTarget(PromotionRequest request)
    {
        // Candidates with different credentials: which one the later probe borrows depends on which answer.
        var credential = request.Candidates[0].AdminCredential;
        if (request.Candidates.Any(c => !SameCredential(c.AdminCredential, credential))) return null;
        if (request.OldPrimary is { } given) return new OldPrimaryProbe(given, given.AdminCredential ?? credential);
        var upstream = request.Candidates.Select(KnownUpstream).Where(u => u is not null)
            .GroupBy(u => u!.Value).OrderByDescending(g => g.Count()).FirstOrDefault();
        if (upstream is null) return null;
        var (host, port) = upstream.Key;
        if (request.Candidates.Any(c => c.ComputerName == host && c.Port == port)) return null;
        return new OldPrimaryProbe(NodeFactory.Like(request.Candidates[0], host, port), credential);
    }

    /// <summary>Whether the early probe asked the old primary found after the reads, as that one is asked: same address, port and credential. Pure.</summary>
    internal static bool IsSameProbe(OldPrimaryProbe probed, PgNode oldPrimary) =>
        string.Equals(probed.Node.ComputerName, oldPrimary.ComputerName, StringComparison.OrdinalIgnoreCase) &&
        probed.Node.Port == oldPrimary.Port && SameCredential(probed.Credential, oldPrimary.AdminCredential);

    // Each node given with -Credential holds its own copy: the same role and password count as the same login.
    private static bool SameCredential(NetworkCredential? a, NetworkCredential? b) =>
        ReferenceEquals(a, b) || a is not null && b is not null &&
        a.UserName == b.UserName && a.Password == b.Password && a.Domain == b.Domain;

    /// <summary>The upstream (host, port) a candidate was discovered following, or null.</summary>
    private static (string Host, int Port)? KnownUpstream(PgNode candidate)
    {
        if (candidate.UpstreamNode is { } node) return (node.ComputerName, node.Port);
        if (string.IsNullOrEmpty(candidate.Upstream)) return null;
        var colon = candidate.Upstream.LastIndexOf(':');
        // "host:port", or a host alone (the default port); an IPv6 address without a port does not match later and is probed again.
        return colon > 0 && int.TryParse(candidate.Upstream[(colon + 1)..], out var port)
            ? (candidate.Upstream[..colon], port) : (candidate.Upstream, PgNode.DefaultPort);
    }

    private static TimeSpan CandidateConnectTimeout(PromotionRequest request) => request.ProbeTimeout + TimeSpan.FromSeconds(2);

    private static string? SyncSettingOf(PgNode? oldPrimary, bool alive, IReadOnlyList<StandbyPosition> reachable, IOperationLog log)
    {
        if (oldPrimary is not null && alive)
        {
            try
            {
                using var s = PgSession.Open(oldPrimary, log: log, connectTimeout: TimeSpan.FromSeconds(5));
                return s.Scalar<string>("SELECT pg_catalog.current_setting('synchronous_standby_names')");
            }
            catch (Exception ex) when (ex is PgConnectionException or PgQueryException) { }
        }
        // The primary is gone: its setting travelled to the standbys with the base backup.
        return reachable.Select(p => p.SynchronousStandbyNames).FirstOrDefault(n => !string.IsNullOrWhiteSpace(n));
    }

    /// <summary>
    /// The candidate to promote, out of those that answered: the one named, else the most advanced (timeline, then WAL held)
    /// of those synchronous_standby_names lists (all, when it lists none of them), leaving out delayed standbys
    /// (recovery_min_apply_delay): a delayed standby exists to keep the past, and is promoted only when named. Refused: a
    /// named candidate not listed as synchronous, or one behind another candidate (a delayed one included, since it holds
    /// what it received), unless forced; no candidate that is not delayed. Pure.
    /// </summary>
    internal static StandbyPosition Choose(IReadOnlyList<StandbyPosition> reachable, IReadOnlyList<string> syncNames, string? name, bool force,
        IReadOnlyList<StandbyPosition>? all = null, FailoverSlotFacts? slots = null)
    {
        slots ??= FailoverSlotFacts.None;
        var qualified = syncNames.Count == 0 ? reachable
            : reachable.Where(p => p.ApplicationName is { } app && SynchronousStandbyNames.Lists(syncNames, app)).ToList();
        StandbyPosition chosen;
        if (name is not null)
        {
            chosen = reachable.FirstOrDefault(p => Matches(p.Node, name))
                ?? throw new PromotionRefusedException(ErrorReasons.NoCandidate,
                    $"No reachable candidate is named '{name}' (candidates: {string.Join(", ", (all ?? reachable).Select(p => p.Node.Name))}).");
        }
        else
        {
            // A synchronous one if any is not delayed, else any that is not (then refused as not synchronous unless forced).
            var undelayed = qualified.Where(p => p.ApplyDelay <= TimeSpan.Zero).ToList();
            if (undelayed.Count == 0) undelayed = reachable.Where(p => p.ApplyDelay <= TimeSpan.Zero).ToList();
            if (undelayed.Count == 0)
                throw new PromotionRefusedException(ErrorReasons.OnlyDelayedCandidates,
                    $"Every candidate is a delayed standby ({string.Join(", ", reachable.Select(p => $"{p.Node.Name}: recovery_min_apply_delay {StandbyReplay.Describe(p.ApplyDelay)}"))}): " +
                    "a delayed standby is promoted only when named. Name it with -Name (its pending WAL is replayed first), or give a standby that is not delayed.",
                    reachable.FirstOrDefault()?.Node);
            chosen = BestOf(undelayed);
            // Of those as far ahead, one that holds every failover slot synced: its subscribers go on after the promotion.
            var withSlots = undelayed.Where(p => slots.MissingOn(p.Node).Count == 0).ToList();
            if (slots.MissingOn(chosen.Node).Count > 0 && withSlots.Count > 0 && !IsBehind(BestOf(withSlots), chosen))
                chosen = BestOf(withSlots);
        }
        if (syncNames.Count > 0 && !qualified.Contains(chosen) && !force)
            throw new PromotionRefusedException(ErrorReasons.NotSynchronous,
                $"{chosen.Node.Name} (application_name '{chosen.ApplicationName}') is not a synchronous standby under " +
                $"synchronous_standby_names '{string.Join(", ", syncNames)}': it may lack acknowledged transactions. Use -Force to promote it anyway.", chosen.Node);
        var ahead = BestOf(reachable);
        if (chosen != ahead && IsBehind(chosen, ahead) && !force)
            throw new PromotionRefusedException(ErrorReasons.CandidateBehind,
                $"{chosen.Node.Name} is behind {ahead.Node.Name} (timeline {chosen.Timeline} at {Lsn.Format(chosen.Position)} vs timeline {ahead.Timeline} at {Lsn.Format(ahead.Position)}): " +
                "promoting it would lose what the other has. Promote the other" + (ahead.ApplyDelay > TimeSpan.Zero ? " (a delayed standby: name it with -Name)" : "") + ", or use -Force.", chosen.Node);
        if (slots.MissingOn(chosen.Node) is { Count: > 0 } missing && !force)
        {
            var holders = reachable.Where(p => p != chosen && slots.MissingOn(p.Node).Count == 0 && slots.Synced.ContainsKey(p.Node)).Select(p => p.Node.Name).ToList();
            throw new PromotionRefusedException(ErrorReasons.FailoverSlotsNotSynced,
                $"{chosen.Node.Name} holds no synced copy of the failover slot{(missing.Count == 1 ? "" : "s")} {string.Join(", ", missing)}: promoted, " +
                $"{(missing.Count == 1 ? "its subscriber" : "their subscribers")} would lose {(missing.Count == 1 ? "its" : "their")} place. " +
                (holders.Count > 0 ? $"{string.Join(", ", holders)} hold{(holders.Count == 1 ? "s" : "")} them; promote " + (holders.Count == 1 ? "it" : "one of them") + ", or use -Force."
                                   : "Make it a failover candidate (Set-PgMasterConfig -FailoverStandby, Enable-PgHotStandby) and wait until it has synced them, or use -Force."),
                chosen.Node);
        }
        return chosen;
    }

    /// <summary>The most advanced: the newest timeline, then the furthest WAL held (received or replayed); the first of equals. Pure.</summary>
    internal static StandbyPosition BestOf(IEnumerable<StandbyPosition> positions) =>
        positions.OrderByDescending(p => p.Timeline ?? 0).ThenByDescending(p => p.Position).First();

    /// <summary>Whether <paramref name="ahead"/> holds what <paramref name="chosen"/> lacks: a newer timeline, or more WAL on the same one. Pure.</summary>
    internal static bool IsBehind(StandbyPosition chosen, StandbyPosition ahead) =>
        (ahead.Timeline ?? 0) > (chosen.Timeline ?? 0) || ahead.Timeline == chosen.Timeline && ahead.Position > chosen.Position;

    internal static bool Matches(PgNode node, string name) =>
        string.Equals(node.Name, name, StringComparison.OrdinalIgnoreCase) || string.Equals(node.ComputerName, name, StringComparison.OrdinalIgnoreCase);
}
