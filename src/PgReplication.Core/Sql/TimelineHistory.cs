using System.Globalization;

namespace PgReplication.Core.Sql;

/// <summary>One line of a timeline history file: timeline <see cref="Timeline"/> ended at <see cref="SwitchPoint"/>.</summary>
public sealed record TimelineSwitch(int Timeline, ulong SwitchPoint);

/// <summary>
/// The timeline history file a promotion writes (pg_wal/0000000N.history): "parentTLI\tswitchpoint\treason"
/// per line. It says where each earlier timeline forked, so whether a standby can still follow.
/// </summary>
public static class TimelineHistory
{
    public static IReadOnlyList<TimelineSwitch> Parse(string? text)
    {
        var switches = new List<TimelineSwitch>();
        foreach (var line in (text ?? "").Split('\n'))
        {
            var fields = line.Trim().Split('\t', ' ');
            if (fields.Length < 2 || line.TrimStart().StartsWith('#')) continue;
            if (int.TryParse(fields[0], NumberStyles.Integer, CultureInfo.InvariantCulture, out var tli) && Lsn.Parse(fields[1]) is { } lsn)
                switches.Add(new TimelineSwitch(tli, lsn));
        }
        return switches;
    }

    /// <summary>The file name of a timeline's history, as in pg_wal.</summary>
    public static string FileName(int timeline) => timeline.ToString("X8", CultureInfo.InvariantCulture) + ".history";

    /// <summary>
    /// True when a standby that replayed up to <paramref name="standbyLsn"/> on <paramref name="standbyTimeline"/>
    /// can follow a primary on <paramref name="primaryTimeline"/>: same timeline, or an ancestor that forked
    /// at or after what the standby has replayed. Otherwise its history diverged: it needs a rewind or a new copy.
    /// </summary>
    public static bool CanFollow(int standbyTimeline, ulong standbyLsn, int primaryTimeline, IReadOnlyList<TimelineSwitch> primaryHistory)
    {
        if (standbyTimeline == primaryTimeline) return true;
        var fork = primaryHistory.FirstOrDefault(s => s.Timeline == standbyTimeline);
        return fork is not null && standbyLsn <= fork.SwitchPoint;
    }

    /// <summary>
    /// The timeline a position belongs to in a lineage: the first timeline that ended at or after it, else the
    /// newest (<paramref name="newestTimeline"/>, whose history file <paramref name="history"/> is).
    /// </summary>
    public static int TimelineAt(IReadOnlyList<TimelineSwitch> history, int newestTimeline, ulong position) =>
        history.OrderBy(s => s.Timeline).FirstOrDefault(s => position <= s.SwitchPoint)?.Timeline ?? newestTimeline;

    /// <summary>Where <paramref name="timeline"/> forked off in the history, or null when it is not an ancestor.</summary>
    public static ulong? SwitchPointOf(int timeline, IReadOnlyList<TimelineSwitch> history) =>
        history.FirstOrDefault(s => s.Timeline == timeline)?.SwitchPoint;

}
