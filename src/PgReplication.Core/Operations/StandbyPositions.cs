using System.Net;
using PgReplication.Core.Config;
using PgReplication.Core.Model;
using PgReplication.Core.Sql;
using PgReplication.Core.Versions;

namespace PgReplication.Core.Operations;

/// <summary>How far a standby has got, read from the server itself: what promotion chooses by.</summary>
public sealed class StandbyPosition
{
    public required PgNode Node { get; init; }
    public bool Reachable { get; init; }
    public bool InRecovery { get; init; }
    public int? Timeline { get; init; }
    public string? ReceiveLsn { get; init; }
    public string? ReplayLsn { get; init; }
    public bool ReplayPaused { get; init; }
    /// <summary>recovery_min_apply_delay: a delayed standby is never promoted unless named.</summary>
    public TimeSpan ApplyDelay { get; init; }
    /// <summary>The application_name in its primary_conninfo: the name synchronous_standby_names refers to.</summary>
    public string? ApplicationName { get; init; }
    /// <summary>The upstream in its primary_conninfo (host, port), even when that upstream is gone.</summary>
    public string? UpstreamHost { get; init; }
    public int? UpstreamPort { get; init; }
    /// <summary>synchronous_standby_names as this node has it (copied from the primary with the base backup).</summary>
    public string? SynchronousStandbyNames { get; init; }
    public string? Error { get; init; }
    /// <summary>Patroni manages the node's cluster (Enable-PgAutoFailover's marker): its failover is Patroni's.</summary>
    public PatroniMarker? ManagedBy { get; init; }

    /// <summary>The furthest WAL position this standby holds: received or replayed, whichever is ahead.</summary>
    public ulong Position => Math.Max(Lsn.Parse(ReceiveLsn) ?? 0, Lsn.Parse(ReplayLsn) ?? 0);

    public override string ToString() => Reachable
        ? $"{Node.Name}: timeline {Timeline}, received {ReceiveLsn ?? "-"}, replayed {ReplayLsn ?? "-"}{(ReplayPaused ? ", replay paused" : "")}" +
          (ApplyDelay > TimeSpan.Zero ? $", delayed by {StandbyReplay.Describe(ApplyDelay)}" : "")
        : $"{Node.Name}: unreachable ({Error})";

    /// <summary>Where a node stands, from its replication state (no I/O): what the promotion ranks.</summary>
    public static StandbyPosition From(ReplicationState state)
    {
        var conninfo = state.InRecovery ? state.ConninfoValues : new Dictionary<string, string>();
        return new StandbyPosition
        {
            Node = state.Node, Reachable = true, InRecovery = state.InRecovery,
            Timeline = state.Timeline,
            ReceiveLsn = state.ReceiveLsn, ReplayLsn = state.ReplayLsn,
            ReplayPaused = state.ReplayPaused,
            ApplyDelay = state.InRecovery ? StandbyReplay.ParseDelay(state.ApplyDelay) : TimeSpan.Zero,
            SynchronousStandbyNames = state.SynchronousStandbyNames,
            ApplicationName = conninfo.GetValueOrDefault("application_name"),
            UpstreamHost = state.InRecovery ? state.ConfiguredUpstreamHost : null,
            UpstreamPort = state.InRecovery ? state.ConfiguredUpstreamPort : null,
            ManagedBy = AutoFailoverConfig.ParseMarker(state.PatroniMarker),
        };
    }
}

/// <summary>Reads standbys' positions and recovery settings over SQL (no shell needed).</summary>
public static class StandbyPositions
{
    /// <param name="pooled">Leave the connection in the pool for the step that follows (a promotion's pg_promote).</param>
    public static StandbyPosition Read(PgNode node, IOperationLog log, TimeSpan? connectTimeout = null, bool pooled = false)
    {
        try
        {
            using var session = PgSession.Open(node, log: log, connectTimeout: connectTimeout, pooled: pooled);
            return StandbyPosition.From(ReplicationStateReader.Read(session, node, ReplicationStateParts.HistoryTimeline));
        }
        catch (Exception ex) when (ex is PgConnectionException or PgQueryException)
        {
            return new StandbyPosition { Node = node, Reachable = false, Error = ex.Message };
        }
    }

    /// <summary>
    /// Recovery settings as the standby has them (null when not set): server settings from 12, lines of
    /// recovery.conf before (read over SQL, so no shell is needed).
    /// </summary>
    internal static Dictionary<string, string?> RecoverySettings(PgSession session, int major, params string[] names)
    {
        if (StandbyConfigRules.UsesStandbySignal(major))
            return names.ToDictionary(n => n, n => session.Scalar<string>("SELECT pg_catalog.current_setting(@name, true)", ("name", n)));
        var text = session.Scalar<string>("SELECT pg_catalog.pg_read_file('recovery.conf', 0, 1048576, true)");
        var file = OfflineSettings.Read(text ?? "");
        return names.ToDictionary(n => n, n => (string?)file.GetValueOrDefault(n));
    }

    /// <summary>
    /// Whether a server answers at host:port as a primary: true (a primary), false (nothing answers, or
    /// it is in recovery), null (a server answers but refuses our login: it is up, its role unknown).
    /// </summary>
    /// <param name="credential">The role to log in as; the node's own when null.</param>
    public static bool? AnswersAsPrimary(PgNode node, IOperationLog log, TimeSpan timeout, NetworkCredential? credential = null)
    {
        try
        {
            using var session = PgSession.Open(node, credential, log: log, connectTimeout: timeout);
            return !session.Scalar<bool>("SELECT pg_catalog.pg_is_in_recovery()");
        }
        catch (PgConnectionException ex) when (ex.ServerAnswered) { return null; }
        catch (PgConnectionException) { return false; }
    }
}
