using System.Globalization;
using System.Text.RegularExpressions;
using PgReplication.Core.Config;
using PgReplication.Core.Hosts;
using PgReplication.Core.Model;
using PgReplication.Core.Sql;
using PgReplication.Core.Versions;

namespace PgReplication.Core.Operations;

/// <summary>A replay change refused before anything changed; <see cref="Reason"/> is the stable part of the ErrorId.</summary>
public sealed class ReplayRefusedException : RefusedException
{
    /// <summary>Reasons: NotAStandby, BadApplyDelay.</summary>
    public ReplayRefusedException(string reason, string message) : base(reason, message) { }
}

/// <summary>What a standby's replay is now: read from the server.</summary>
public sealed record ReplayFacts(string Node, int Major, bool InRecovery, bool Paused, TimeSpan ApplyDelay);

/// <summary>What to change on one standby's replay (null: leave as it is), and the words for -WhatIf.</summary>
public sealed class ReplayPlan
{
    public required ReplayFacts Facts { get; init; }
    public bool? Pause { get; init; }
    public TimeSpan? ApplyDelay { get; init; }
    /// <summary>Before 12 recovery_min_apply_delay is in recovery.conf, read at start only.</summary>
    public bool NeedsRestart { get; init; }
    public List<string> Steps { get; } = new();
    public bool ChangesNothing => Steps.Count == 0;
}

/// <summary>Pauses, resumes and delays a standby's WAL replay (pg_wal_replay_pause/resume, recovery_min_apply_delay).</summary>
public static class StandbyReplay
{
    /// <summary>The longest recovery_min_apply_delay PostgreSQL takes: INT_MAX milliseconds.</summary>
    public static readonly TimeSpan MaxApplyDelay = TimeSpan.FromMilliseconds(int.MaxValue);

    private const string FactsQuery = """
        SELECT pg_catalog.pg_is_in_recovery() AS in_recovery,
               CASE WHEN pg_catalog.pg_is_in_recovery() THEN pg_catalog.pg_is_wal_replay_paused() ELSE false END AS paused,
               pg_catalog.current_setting('recovery_min_apply_delay', true) AS apply_delay
        """;

    public static ReplayFacts Read(PgNode standby, IOperationLog log)
    {
        using var session = PgSession.Open(standby, log: log);
        NodeDiscovery.Discover(standby, session, NullOperationLog.Instance);
        var major = standby.MajorVersion ?? VersionRules.NewestMajor;
        var row = session.Query(FactsQuery).Single();
        // Before 12 the setting is a line of recovery.conf, not a server setting.
        var delay = StandbyConfigRules.UsesStandbySignal(major) ? row.Text("apply_delay")
            : StandbyPositions.RecoverySettings(session, major, "recovery_min_apply_delay")["recovery_min_apply_delay"];
        return new ReplayFacts(standby.Name, major, row.Get<bool>("in_recovery"), row.Get<bool>("paused"), ParseDelay(delay));
    }

    /// <summary>
    /// A duration as PostgreSQL writes it ("0", "300000", "5min", "10 s", "1h"); a bare number is milliseconds, the unit
    /// of recovery_min_apply_delay. Empty is 0.
    /// </summary>
    public static TimeSpan ParseDelay(string? value)
    {
        var text = (value ?? "").Trim();
        if (text.Length == 0) return TimeSpan.Zero;
        var m = Regex.Match(text, @"^(\d+(?:\.\d+)?)\s*(us|ms|s|min|h|d)?$");
        if (!m.Success) throw new FormatException($"'{value}' is not a duration PostgreSQL writes.");
        var number = double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
        return m.Groups[2].Value switch
        {
            "us" => TimeSpan.FromMilliseconds(number / 1000),
            "" or "ms" => TimeSpan.FromMilliseconds(number),
            "s" => TimeSpan.FromSeconds(number),
            "min" => TimeSpan.FromMinutes(number),
            "h" => TimeSpan.FromHours(number),
            _ => TimeSpan.FromDays(number),
        };
    }

    /// <summary>The value written for a delay: whole milliseconds, with the unit.</summary>
    public static string FormatDelay(TimeSpan delay) => ((long)delay.TotalMilliseconds).ToString(CultureInfo.InvariantCulture) + "ms";

    /// <summary>
    /// What to do so the standby's replay is <paramref name="pause"/>d or not and delayed by <paramref name="applyDelay"/>
    /// (null: as it is). Pure: refuses a primary and a delay PostgreSQL cannot take; what already holds is no step.
    /// </summary>
    public static ReplayPlan Decide(ReplayFacts facts, bool? pause, TimeSpan? applyDelay)
    {
        if (applyDelay is { } d && (d < TimeSpan.Zero || d > MaxApplyDelay))
            throw new ReplayRefusedException(ErrorReasons.BadApplyDelay,
                $"An apply delay of {d} for {facts.Node} is not one PostgreSQL takes: from 0 to {MaxApplyDelay.TotalDays:0.#} days (recovery_min_apply_delay).");
        if (!facts.InRecovery)
            throw new ReplayRefusedException(ErrorReasons.NotAStandby,
                $"{facts.Node} is a primary, not a standby: it replays no WAL, so there is nothing to pause, resume or delay.");
        // Whole milliseconds, as the server keeps it.
        var wanted = applyDelay is { } w ? TimeSpan.FromMilliseconds(Math.Floor(w.TotalMilliseconds)) : (TimeSpan?)null;
        var changeDelay = wanted is { } delay && delay != facts.ApplyDelay;
        var plan = new ReplayPlan
        {
            Facts = facts, Pause = pause == facts.Paused ? null : pause, ApplyDelay = changeDelay ? wanted : null,
            NeedsRestart = changeDelay && !StandbyConfigRules.UsesStandbySignal(facts.Major),
        };
        if (plan.ApplyDelay is { } newDelay)
            plan.Steps.Add(plan.NeedsRestart
                ? $"set recovery_min_apply_delay of {facts.Node} from {Describe(facts.ApplyDelay)} to {Describe(newDelay)} in recovery.conf and restart it (before 12 it is read at start only)"
                : $"set recovery_min_apply_delay of {facts.Node} from {Describe(facts.ApplyDelay)} to {Describe(newDelay)} and reload");
        if (plan.Pause == true) plan.Steps.Add($"pause WAL replay on {facts.Node} (it keeps receiving WAL; nothing new becomes visible there)");
        if (plan.Pause == false) plan.Steps.Add($"resume WAL replay on {facts.Node}");
        return plan;
    }

    /// <summary>"0 (none)", "10 min", "90 s": a delay for people.</summary>
    public static string Describe(TimeSpan delay) =>
        delay == TimeSpan.Zero ? "0 (none)"
        : delay.TotalMilliseconds % 60000 == 0 ? $"{delay.TotalMinutes.ToString("0", CultureInfo.InvariantCulture)} min"
        : delay.TotalMilliseconds % 1000 == 0 ? $"{delay.TotalSeconds.ToString("0", CultureInfo.InvariantCulture)} s"
        : $"{delay.TotalMilliseconds.ToString("0", CultureInfo.InvariantCulture)} ms";

    /// <summary>Carries out the plan: the delay first (a reload, or recovery.conf and a restart before 12), then pause or resume, each checked.</summary>
    /// <param name="writeDelay">Writes the delay instead of ALTER SYSTEM (a cluster Patroni manages: its member configuration).</param>
    public static void Apply(PgNode standby, ReplayPlan plan, IOperationLog log, TimeSpan timeout, Action<TimeSpan>? writeDelay = null)
    {
        if (plan.ChangesNothing) { log.Verbose($"{standby.Name}: replay already as asked; nothing to change."); return; }
        if (plan.ApplyDelay is { } delay)
        {
            if (writeDelay is not null) writeDelay(delay);
            else if (plan.NeedsRestart) WriteRecoveryConf(standby, delay, log, timeout);
            else
            {
                using var session = PgSession.Open(standby, log: log);
                // ALTER SYSTEM is a utility statement: the value is a literal (milliseconds and unit, nothing else).
                session.Execute(delay == TimeSpan.Zero ? "ALTER SYSTEM RESET recovery_min_apply_delay"
                    : $"ALTER SYSTEM SET recovery_min_apply_delay = {SqlQuote.Literal(FormatDelay(delay))}");
                session.Scalar<bool>("SELECT pg_catalog.pg_reload_conf()");
            }
            WaitFor(standby, () => Read(standby, NullOperationLog.Instance).ApplyDelay == delay, $"recovery_min_apply_delay to show {Describe(delay)}", log);
            log.Verbose($"{standby.Name}: recovery_min_apply_delay is {Describe(delay)}.");
        }
        if (plan.Pause is { } pause)
        {
            using (var session = PgSession.Open(standby, log: log))
                session.Scalar<object>(pause ? "SELECT pg_catalog.pg_wal_replay_pause()" : "SELECT pg_catalog.pg_wal_replay_resume()");
            // From 14 a pause is only requested until the startup process takes it; pg_is_wal_replay_paused says when it did.
            WaitFor(standby, () => Read(standby, NullOperationLog.Instance).Paused == pause, pause ? "replay to pause" : "replay to resume", log);
            log.Verbose($"{standby.Name}: WAL replay {(pause ? "paused" : "resumed")}.");
        }
    }

    // Before 12: the line in recovery.conf (kept mode, old copy kept), then a restart, which is when the server reads it.
    private static void WriteRecoveryConf(PgNode standby, TimeSpan delay, IOperationLog log, TimeSpan timeout)
    {
        using var shell = HostShells.Open(standby, log);
        var data = standby.DataDirectory ?? throw new InvalidOperationException($"The data directory of {standby.Name} is not known.");
        var path = HotStandby.RecoveryConfigFile(data, standby.MajorVersion ?? VersionRules.NewestMajor);
        SettingsFile.Update(shell, path, standby.OsUser, new Dictionary<string, string?> { ["recovery_min_apply_delay"] = delay == TimeSpan.Zero ? null : FormatDelay(delay) },
            currentText: HostFiles.ReadText(shell, path, standby.OsUser), backupSuffix: HostFiles.TimestampedBackupSuffix());
        ServerController.Restart(standby, shell, log, timeout);
        ServerController.WaitUntilAccepting(standby, log, timeout);
    }

    private static void WaitFor(PgNode standby, Func<bool> condition, string what, IOperationLog log)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"Waited 15 s on {standby.Name} for {what}; it did not happen.");
            Thread.Sleep(100);
        }
    }
}
