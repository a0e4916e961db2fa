using PgReplication.Core.Model;

// The results of a promotion, a switchover and a re-pointed standby: part of the surface, so in this assembly
// (the default load context), under the namespace they always had (the format file and scripts name them).
namespace PgReplication.Core.Operations;

/// <summary>What a promotion or switchover did: the result object's summary.</summary>
public sealed class PromotionSummary
{
    public required string NewPrimary { get; init; }
    public string? OldPrimary { get; init; }
    public int? OldTimeline { get; init; }
    public int? NewTimeline { get; set; }
    /// <summary>From the start of the promotion step until the new primary accepted writes.</summary>
    public TimeSpan TimeToWritable { get; set; }
    /// <summary>From the start of the cmdlet's work until every sibling streamed (or failed).</summary>
    public TimeSpan TimeToSiblingsStreaming { get; set; }
    public bool OldPrimaryFenced { get; set; }
    public List<FollowOutcome> Siblings { get; } = new();
    public List<string> Steps { get; } = new();
    public override string ToString() => string.Join("; ", Steps);
}

/// <summary>How re-pointing one standby went: promotion and switchover report one per sibling.</summary>
public sealed class FollowOutcome
{
    public required string Standby { get; init; }
    public required string Upstream { get; init; }
    public bool Streaming { get; init; }
    public int? Timeline { get; init; }
    public string? Error { get; init; }
    /// <summary>What to do when it could not follow (e.g. Restore-PgStandby for a diverged timeline).</summary>
    public string? Remedy { get; init; }
    public PgNode? Node { get; init; }
    public override string ToString() => Streaming
        ? $"{Standby} streams from {Upstream} on timeline {Timeline}"
        : $"{Standby} could not follow {Upstream}: {Error}{(Remedy is null ? "" : " Remedy: " + Remedy)}";
}
