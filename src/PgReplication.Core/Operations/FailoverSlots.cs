using PgReplication.Core.Config;
using PgReplication.Core.Model;
using PgReplication.Core.Sql;
using PgReplication.Core.Versions;

namespace PgReplication.Core.Operations;

/// <summary>
/// Logical slots that survive a failover (PostgreSQL 17 and later): a failover candidate (a standby whose physical slot
/// the primary lists in synchronized_standby_slots) runs the slot sync worker, which keeps a copy of each logical slot
/// created with failover = true; a subscriber goes on from the promoted candidate. Before 17 a logical slot lives on its
/// primary only and is lost with it. The decisions are pure; the reads are one small query per server.
/// </summary>
public static class FailoverSlots
{
    /// <summary>The primary's logical slots that are to follow a failover.</summary>
    internal const string PrimaryQuery =
        "SELECT s.slot_name::text AS slot_name FROM pg_catalog.pg_replication_slots s WHERE s.slot_type = 'logical' AND s.failover ORDER BY 1";

    /// <summary>
    /// A standby's synced copies that a promotion can use: persistent (a temporary one is still catching up with its
    /// primary's and is dropped at promotion) and not invalidated.
    /// </summary>
    internal const string SyncedQuery =
        "SELECT s.slot_name::text AS slot_name FROM pg_catalog.pg_replication_slots s " +
        "WHERE s.slot_type = 'logical' AND s.synced AND NOT s.temporary AND s.invalidation_reason IS NULL ORDER BY 1";

    /// <summary>What 17 needs on a failover candidate, besides its primary_slot_name and a dbname in primary_conninfo.</summary>
    public static IReadOnlyDictionary<string, string> CandidateSettings { get; } = new Dictionary<string, string>
    {
        [VersionRules.SyncReplicationSlots] = "on",
        // The slot sync worker refuses to run without it: the primary must keep the rows a synced slot still needs.
        ["hot_standby_feedback"] = "on",
        // The worker needs it on the standby itself, and a promoted candidate must decode for its subscribers. A copy of
        // a primary whose postgresql.auto.conf has it already has it; a standby configured in /etc (Debian) gets it here.
        [VersionRules.WalLevel] = "logical",
    };

    /// <summary>Whether <paramref name="major"/> can keep logical slots across a failover.</summary>
    public static bool Supported(int major) => VersionRules.Applies(VersionRules.SyncReplicationSlots, major);

    /// <summary>The one warning for a major that cannot.</summary>
    public static string NotSupportedMessage(string node, int major) =>
        $"{node} runs PostgreSQL {major}: logical replication slots do not survive a failover before 17 (no slot synchronisation). " +
        "A subscriber or change-data-capture consumer of this primary loses its place when a standby is promoted, and must be set up again from a new snapshot.";

    /// <summary>A synchronized_standby_slots value as a list (empty for '' or null); '*' is kept as it is.</summary>
    public static IReadOnlyList<string> ParseList(string? value) =>
        (value ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(s => s.Trim('"')).Where(s => s.Length > 0).Distinct(StringComparer.Ordinal).ToList();

    /// <summary>The value for <paramref name="slots"/> (each checked as a slot name), in the order given.</summary>
    public static string Format(IEnumerable<string> slots) =>
        string.Join(",", slots.Select(SlotNames.Validate).Distinct(StringComparer.Ordinal));

    /// <summary>
    /// synchronized_standby_slots as it should be after Set-PgMasterConfig -FailoverStandby: the candidates' slots, or null
    /// when what is configured already lists exactly those (in any order).
    /// </summary>
    public static string? PlanPrimarySetting(string? configured, IReadOnlyList<string> candidateSlots)
    {
        var wanted = Format(candidateSlots);
        var now = ParseList(configured);
        return now.Order(StringComparer.Ordinal).SequenceEqual(ParseList(wanted).Order(StringComparer.Ordinal)) ? null : wanted;
    }

    /// <summary>
    /// synchronized_standby_slots without <paramref name="slot"/> (a standby taken out), or null when it does not list it.
    /// A listed slot that no longer exists holds back every logical WAL sender of the primary, so it goes before the slot. Pure.
    /// </summary>
    public static string? Without(string? configured, string slot)
    {
        var now = ParseList(configured);
        return now.Contains(slot, StringComparer.Ordinal) ? string.Join(",", now.Where(s => s != slot)) : null;
    }

    /// <summary>Whether a standby whose slot on its primary is <paramref name="slot"/> is a failover candidate there.</summary>
    public static bool IsCandidate(string? primarySetting, string? slot) =>
        slot is not null && ParseList(primarySetting).Contains(slot, StringComparer.Ordinal);

    /// <summary>The failover slots of the primary (or, with the primary gone, of any candidate) that <paramref name="synced"/> lacks.</summary>
    public static IReadOnlyList<string> Missing(IEnumerable<string> failoverSlots, IEnumerable<string>? synced)
    {
        var have = (synced ?? Array.Empty<string>()).ToHashSet(StringComparer.Ordinal);
        return failoverSlots.Where(s => !have.Contains(s)).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
    }

    /// <summary>
    /// Test-PgReplication's check for one standby: null when there is nothing to say (before 17, or a primary with no
    /// failover slot). <paramref name="synced"/> null: the standby could not be read.
    /// </summary>
    public static HealthCheck? Check(string standby, string primary, IReadOnlyList<string> failoverSlots, IReadOnlyList<string>? synced, string? syncSetting)
    {
        if (failoverSlots.Count == 0) return null;
        if (synced is null) return new HealthCheck(CheckName, false, $"{standby} could not be asked which of {primary}'s failover slots it holds");
        var missing = Missing(failoverSlots, synced);
        if (missing.Count == 0)
            return new HealthCheck(CheckName, true, $"{string.Join(", ", failoverSlots)} synced from {primary}");
        var why = ConfigValues.ParseBool(syncSetting) == true ? "" :
            $" (sync_replication_slots is {(string.IsNullOrEmpty(syncSetting) ? "not set" : syncSetting)} here: list its slot with Set-PgMasterConfig -FailoverStandby, then run Enable-PgHotStandby again)";
        return new HealthCheck(CheckName, false,
            $"{string.Join(", ", missing)} of {primary} not synced on {standby}{why}: a subscriber of {(missing.Count == 1 ? "that slot" : "those slots")} loses its place if {standby} is promoted");
    }

    public const string CheckName = "failover slots synced";

    /// <summary>A server's slots by <paramref name="query"/>; null when it cannot be asked (or is older than 17).</summary>
    internal static IReadOnlyList<string>? Read(PgNode node, string query, IOperationLog log) =>
        Ask(node, session => session.Query(query).Select(r => r.Text("slot_name")!).ToList(), log);

    // One short pooled session to a 17+ server (or one whose major is not known yet); null when it cannot be asked.
    private static T? Ask<T>(PgNode node, Func<PgSession, T> read, IOperationLog log) where T : class
    {
        if (node.MajorVersion is { } major && !Supported(major)) return null;
        try
        {
            using var session = PgSession.Open(node, log: log, connectTimeout: TimeSpan.FromSeconds(5), pooled: true);
            return read(session);
        }
        catch (Exception ex) when (ex is PgConnectionException or PgQueryException)
        {
            log.Verbose($"{node.Name}: its replication slots could not be read ({ex.Message}).");
            return null;
        }
    }

    /// <summary>
    /// For Test-PgReplication: per standby of a 17+ primary that has failover slots, the check; read at once on every
    /// server. Standbys of older primaries, or of primaries without failover slots, get none.
    /// </summary>
    internal static IReadOnlyDictionary<PgNode, HealthCheck> ChecksFor(IReadOnlyList<(PgNode Standby, PgNode Primary)> pairs, IOperationLog log)
    {
        var eligible = pairs.Where(p => p.Primary.Role == NodeRole.Primary && p.Primary.MajorVersion is { } m && Supported(m)).ToList();
        if (eligible.Count == 0) return new Dictionary<PgNode, HealthCheck>();
        var primaries = eligible.Select(p => p.Primary).Distinct().ToList();
        var standbys = eligible.Select(p => p.Standby).Distinct().ToList();
        var primarySlots = Concurrently.Start(() => primaries.Zip(Concurrently.Map(primaries, p => Read(p, PrimaryQuery, log))).ToDictionary(x => x.First, x => x.Second));
        var standbyFacts = Concurrently.Map(standbys, s => Ask(s, session => new StandbyFacts(
            session.Query(SyncedQuery).Select(r => r.Text("slot_name")!).ToList(),
            session.Scalar<string>($"SELECT pg_catalog.current_setting('{VersionRules.SyncReplicationSlots}', true)")), log));
        var synced = standbys.Zip(standbyFacts).ToDictionary(x => x.First, x => x.Second);
        var slots = primarySlots.Join();
        var checks = new Dictionary<PgNode, HealthCheck>();
        foreach (var (standby, primary) in eligible)
            if (slots[primary] is { } failover && Check(standby.Name, primary.Name, failover, synced[standby]?.Synced, synced[standby]?.Setting) is { } check)
                checks[standby] = check;
        return checks;
    }

    /// <summary>The primary's synchronized_standby_slots (17+): the failover candidates' physical slots. Null when not readable.</summary>
    internal static string? PrimaryCandidates(PgNode primary, IOperationLog log)
    {
        try
        {
            using var session = PgSession.Open(primary, log: log, pooled: true);
            return session.Scalar<string>($"SELECT pg_catalog.current_setting('{VersionRules.SynchronizedStandbySlots}', true)");
        }
        catch (Exception ex) when (ex is PgConnectionException or PgQueryException)
        {
            log.Verbose($"{primary.Name}: synchronized_standby_slots could not be read ({ex.Message}); the standby is set up without slot synchronisation.");
            return null;
        }
    }

    private sealed record StandbyFacts(IReadOnlyList<string> Synced, string? Setting);

    /// <summary>
    /// For a promotion: the failover slots each reachable candidate holds synced (null before 17 or when unreadable),
    /// and the failover slots known at all: the old primary's when it answers, with every candidate's synced ones.
    /// </summary>
    internal static FailoverSlotFacts ReadForPromotion(IReadOnlyList<StandbyPosition> reachable, PgNode? oldPrimary, bool oldPrimaryAlive, IOperationLog log)
    {
        var candidates = reachable.Where(p => p.Node.MajorVersion is not { } m || Supported(m)).ToList();
        if (candidates.Count == 0) return FailoverSlotFacts.None;
        var synced = Concurrently.Map(candidates, c => Read(c.Node, SyncedQuery, log));
        var byNode = candidates.Zip(synced).ToDictionary(x => x.First.Node, x => x.Second);
        var known = synced.Where(s => s is not null).SelectMany(s => s!).ToHashSet(StringComparer.Ordinal);
        if (oldPrimary is not null && oldPrimaryAlive && Read(oldPrimary, PrimaryQuery, log) is { } onPrimary) known.UnionWith(onPrimary);
        return new FailoverSlotFacts(byNode, known.Order(StringComparer.Ordinal).ToList());
    }

    /// <summary>
    /// After a promotion (17+): the new primary inherited synchronized_standby_slots from the old one, listing its own slot,
    /// which it does not have: its logical WAL senders would wait for that slot for ever. The list without it, or null
    /// when nothing needs to change.
    /// </summary>
    public static string? PlanAfterPromotion(string? inherited, string? ownSlot)
    {
        var list = ParseList(inherited);
        if (ownSlot is null || !list.Contains(ownSlot, StringComparer.Ordinal)) return null;
        return string.Join(",", list.Where(s => s != ownSlot));
    }

    /// <summary>Applies <see cref="PlanAfterPromotion"/> on the new primary: ALTER SYSTEM and a reload. Returns the step done, or null.</summary>
    internal static string? FixAfterPromotion(PgNode newPrimary, IOperationLog log)
    {
        if (newPrimary.MajorVersion is not { } major || !Supported(major)) return null;
        using var session = PgSession.Open(newPrimary, log: log, pooled: true);
        var inherited = session.Scalar<string>($"SELECT pg_catalog.current_setting('{VersionRules.SynchronizedStandbySlots}', true)");
        var own = session.Scalar<string>("SELECT pg_catalog.current_setting('primary_slot_name', true)");
        if (PlanAfterPromotion(inherited, string.IsNullOrEmpty(own) ? null : own) is not { } value) return null;
        session.Execute(value.Length == 0
            ? $"ALTER SYSTEM RESET {VersionRules.SynchronizedStandbySlots}"
            : $"ALTER SYSTEM SET {VersionRules.SynchronizedStandbySlots} = {SqlQuote.Literal(value)}");
        session.Scalar<bool>("SELECT pg_catalog.pg_reload_conf()");
        var step = $"{newPrimary.Name}: synchronized_standby_slots '{inherited}' -> '{value}' (its own slot {own} is not a slot on itself)";
        log.Verbose(step);
        return step;
    }
}

/// <summary>What a promotion knows of the candidates' failover slots.</summary>
internal sealed record FailoverSlotFacts(IReadOnlyDictionary<PgNode, IReadOnlyList<string>?> Synced, IReadOnlyList<string> Known)
{
    public static FailoverSlotFacts None { get; } = new(new Dictionary<PgNode, IReadOnlyList<string>?>(), Array.Empty<string>());

    /// <summary>The known failover slots <paramref name="candidate"/> lacks (none when nothing is known of it: before 17).</summary>
    public IReadOnlyList<string> MissingOn(PgNode candidate) =>
        Known.Count == 0 || !Synced.TryGetValue(candidate, out var synced) ? Array.Empty<string>() : FailoverSlots.Missing(Known, synced);
}
