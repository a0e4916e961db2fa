using System.Globalization;
using PgReplication.Core.Hosts;
using PgReplication.Core.Model;

namespace PgReplication.Core.Operations;

/// <summary>What a data directory holds, as far as a step that would destroy it is concerned.</summary>
public enum DataDirectoryKind
{
    /// <summary>Missing, or no entries.</summary>
    Empty,
    /// <summary>Entries, but no PG_VERSION: not a data directory (yet).</summary>
    NotACluster,
    /// <summary>PG_VERSION or backup_label without global/pg_control: a copy that never finished (pg_control is written last).</summary>
    UnfinishedCopy,
    /// <summary>A data directory of another PostgreSQL major than the one at hand: its control file cannot be read with our tools.</summary>
    OtherMajor,
    /// <summary>A data directory no live postmaster runs in (shut down, or crashed).</summary>
    Stopped,
    RunningStandby,
    /// <summary>A live postmaster that is not in archive recovery: a primary (or one on its way to being one).</summary>
    RunningPrimary,
}

/// <summary>
/// What is in a data directory right now, read on its host in one command: postmaster.pid and whether its process
/// lives, PG_VERSION, pg_control (system identifier, state, timeline), the standby marker, and where the directory
/// really is (boot id, device and inode, resolved path), so a symlink or a second name for the primary's own
/// directory is recognised.
/// </summary>
public sealed class DataDirectoryIdentity
{
    public required string Node { get; init; }
    public required string Path { get; init; }
    public DataDirectoryKind Kind { get; init; }
    public string? SystemIdentifier { get; init; }
    /// <summary>pg_controldata's words: "in production", "in archive recovery", "shut down", "shut down in recovery"...</summary>
    public string? ClusterState { get; init; }
    public int? Timeline { get; init; }
    /// <summary>PG_VERSION's content ("15", or "9.6").</summary>
    public string? Major { get; init; }
    public int? PostmasterPid { get; init; }
    public int? PostmasterPort { get; init; }
    public bool StandbyMarker { get; init; }
    /// <summary>backup_label is there: a base backup that has not been started since it was taken.</summary>
    public bool BackupLabel { get; init; }
    /// <summary>The host's boot id (one per machine and boot): two paths are one directory only on one machine.</summary>
    public string? BootId { get; init; }
    /// <summary>The mount namespace the path was resolved in: one path names one directory only within one.</summary>
    public string? MountNamespace { get; init; }
    /// <summary>device:inode of the directory, symlinks followed.</summary>
    public string? Inode { get; init; }
    /// <summary>The path with every symlink resolved.</summary>
    public string? RealPath { get; init; }
    /// <summary>A data directory somewhere below this one (a parent of clusters, such as /var/lib/postgresql/15).</summary>
    public string? NestedDataDirectory { get; init; }
    /// <summary>Set by <see cref="DataDirectoryGuard.Inspect"/>: this is the source primary's own directory, under this name or another.</summary>
    public bool IsSourcePrimary { get; init; }
    /// <summary>Set by <see cref="DataDirectoryGuard.Inspect"/>: this directory holds the source primary's directory, or lies inside it.</summary>
    public bool OverlapsSourcePrimary { get; init; }

    public bool IsRunning => Kind is DataDirectoryKind.RunningPrimary or DataDirectoryKind.RunningStandby;
    public bool InUse => Kind != DataDirectoryKind.Empty;

    public bool SameCluster(PgNode primary) =>
        SystemIdentifier is not null && SystemIdentifier == primary.SystemIdentifier?.ToString(CultureInfo.InvariantCulture);

    /// <summary>
    /// A copy of <paramref name="primary"/> a rerun may leave alone: a standby of it, or a stopped copy marked as a
    /// standby (or stopped in recovery). Never the primary itself, never a running primary.
    /// </summary>
    public bool IsCopyOf(PgNode primary) =>
        SameCluster(primary) && !IsSourcePrimary && !OverlapsSourcePrimary &&
        (Kind == DataDirectoryKind.RunningStandby ||
         Kind == DataDirectoryKind.Stopped && (StandbyMarker || BackupLabel || ClusterState is "shut down in recovery" or "in archive recovery"));

    /// <summary>What is there, in the words -WhatIf, a confirmation and an error use.</summary>
    public string Describe(PgNode source)
    {
        var timeline = Timeline is { } t ? $" on timeline {t}" : "";
        var identity = SystemIdentifier is { } id ? $"system identifier {id}" : "system identifier unknown";
        var whose = SameCluster(source) ? $"of {source.Name}" : $"of another cluster ({identity}, not {source.Name}'s)";
        if (IsSourcePrimary) return $"the data directory of {source.Name} itself, the primary being used as the source";
        if (OverlapsSourcePrimary) return $"a directory that holds, or lies inside, the data directory of {source.Name}";
        return Kind switch
        {
            DataDirectoryKind.Empty => "an empty directory",
            DataDirectoryKind.NotACluster => NestedDataDirectory is { } nested
                ? $"a directory that holds another data directory ({nested})" : "a directory that is not empty and holds no PostgreSQL cluster",
            DataDirectoryKind.UnfinishedCopy => "an unfinished copy (no global/pg_control): it cannot start",
            DataDirectoryKind.OtherMajor => $"a PostgreSQL {Major} data directory{(PostmasterPid is not null ? " (postmaster.pid present)" : "")}",
            DataDirectoryKind.RunningPrimary => $"a running primary {whose}{timeline}, port {PostmasterPort?.ToString(CultureInfo.InvariantCulture) ?? "unknown"}",
            DataDirectoryKind.RunningStandby => $"a running standby {whose}{timeline}",
            _ => SameCluster(source)
                ? $"a stopped copy of {source.Name}{timeline} ({ClusterState ?? "state unknown"}{(StandbyMarker ? ", marked as a standby" : BackupLabel ? ", a base backup not yet started" : "")})"
                : $"a stopped cluster, {identity}, not {source.Name}'s",
        };
    }
}

/// <summary>
/// The one check every destructive step makes first (base backup with -Force, reclone, rejoin, fencing, standby
/// configuration): identify what is in the directory, and refuse what no switch may replace.
/// </summary>
public static class DataDirectoryGuard
{
    // $1 directory, $2 program folder (may be empty), $3 the major expected there. key=value lines, then pg_controldata's own.
    private const string InspectScript = """
        d=$1; bin=$2; major=$3
        echo "boot=$(cat /proc/sys/kernel/random/boot_id 2>/dev/null)"
        echo "mntns=$(readlink /proc/self/ns/mnt 2>/dev/null)"
        [ -e "$d" ] || exit 0
        echo "inode=$(stat -L -c %d:%i -- "$d" 2>/dev/null)"
        echo "real=$(readlink -f -- "$d")"
        [ -n "$(ls -A -- "$d" 2>/dev/null | head -n 1)" ] && echo inuse=1
        [ -f "$d/PG_VERSION" ] && echo "pg_version=$(head -n 1 -- "$d/PG_VERSION")"
        if [ ! -f "$d/PG_VERSION" ]; then n=$(find "$d" -mindepth 2 -maxdepth 4 -name PG_VERSION -print -quit 2>/dev/null); [ -n "$n" ] && echo "nested=${n%/PG_VERSION}"; fi
        [ -f "$d/global/pg_control" ] && echo control=1
        [ -f "$d/backup_label" ] && echo backup_label=1
        [ -e "$d/standby.signal" ] && echo standby_marker=1
        [ -f "$d/recovery.conf" ] && grep -Eiq "^[[:space:]]*standby_mode[[:space:]]*=?[[:space:]]*'?(on|true|yes|1)'?[[:space:]]*(#.*)?$" "$d/recovery.conf" && echo standby_marker=1
        if [ -f "$d/postmaster.pid" ]; then
          pid=$(sed -n 1p "$d/postmaster.pid"); echo "pid=$pid"; echo "port=$(sed -n 4p "$d/postmaster.pid")"
          case "$pid" in
            ''|*[!0-9]*) ;;
            *) [ -e "/proc/$pid" ] && case "$(cat "/proc/$pid/comm" 2>/dev/null)" in postgres|postmaster) echo alive=1;; esac ;;
          esac
        fi
        if [ -f "$d/global/pg_control" ] && [ "$(head -n 1 -- "$d/PG_VERSION" 2>/dev/null)" = "$major" ]; then
          if [ -n "$bin" ] && [ -x "$bin/pg_controldata" ]; then echo "--controldata"; "$bin/pg_controldata" "$d" 2>/dev/null
          else
            echo "raw_sysid=$(od -An -t u8 -N 8 -- "$d/global/pg_control" | tr -d ' ')"
            echo "raw_state=$(od -An -t u4 -j 16 -N 4 -- "$d/global/pg_control" | tr -d ' ')"
            echo "--pg_control $major"; od -An -v -tx1 -N 512 -- "$d/global/pg_control"
          fi
        fi
        true
        """;

    private static readonly string[] StateNames = ControlData.StateNames;

    /// <summary>
    /// Reads what is in <paramref name="dataDirectory"/> on <paramref name="shell"/>'s host, and whether it is, holds or lies
    /// in <paramref name="source"/>'s own data directory (read through <paramref name="sourceShell"/>, when given).
    /// </summary>
    public static DataDirectoryIdentity Inspect(IHostShell shell, string node, string dataDirectory, string user, string? bin, int major,
        PgNode? source = null, IHostShell? sourceShell = null)
    {
        var read = Concurrently.Start(() => shell.Run(new HostCommand("sh", "-c", InspectScript, "sh", dataDirectory, bin ?? "",
            major.ToString(CultureInfo.InvariantCulture)) { RunAs = user, Timeout = TimeSpan.FromSeconds(30) }).EnsureSuccess().StandardOutput);
        DataDirectoryIdentity? sourceIdentity = null;
        if (source?.DataDirectory is { } sourceDirectory && sourceShell is not null)
            sourceIdentity = Parse(sourceShell.Run(new HostCommand("sh", "-c", InspectScript, "sh", sourceDirectory, "", "")
                { RunAs = source.OsUser, Timeout = TimeSpan.FromSeconds(30) }).EnsureSuccess().StandardOutput, source.Name, sourceDirectory);
        var target = Parse(read.Join(), node, dataDirectory);
        return sourceIdentity is null ? target : Compare(target, sourceIdentity);
    }

    /// <summary>Marks <paramref name="target"/> as the source's directory (same machine, same inode) or one holding it or inside it.</summary>
    internal static DataDirectoryIdentity Compare(DataDirectoryIdentity target, DataDirectoryIdentity source)
    {
        // device:inode names one directory on one machine, whatever the mount namespace (a bind mount included); a path
        // names one only within one mount namespace (hosts made of namespaces, containers, share the boot id).
        if (target.BootId is null || target.BootId != source.BootId) return target;
        var oneNamespace = target.MountNamespace is not null && target.MountNamespace == source.MountNamespace;
        var same = target.Inode is not null && target.Inode == source.Inode ||
                   oneNamespace && target.RealPath is not null && target.RealPath == source.RealPath;
        var overlaps = !same && oneNamespace && target.RealPath is { } t && source.RealPath is { } s &&
                       (s.StartsWith(t.TrimEnd('/') + "/", StringComparison.Ordinal) || t.StartsWith(s.TrimEnd('/') + "/", StringComparison.Ordinal));
        return same || overlaps ? With(target, same, overlaps) : target;
    }

    private static DataDirectoryIdentity With(DataDirectoryIdentity t, bool same, bool overlaps) => new()
    {
        Node = t.Node, Path = t.Path, Kind = t.Kind, SystemIdentifier = t.SystemIdentifier, ClusterState = t.ClusterState, Timeline = t.Timeline,
        Major = t.Major, PostmasterPid = t.PostmasterPid, PostmasterPort = t.PostmasterPort, StandbyMarker = t.StandbyMarker, BackupLabel = t.BackupLabel, BootId = t.BootId, MountNamespace = t.MountNamespace,
        Inode = t.Inode, RealPath = t.RealPath, NestedDataDirectory = t.NestedDataDirectory, IsSourcePrimary = same, OverlapsSourcePrimary = overlaps,
    };

    // The control file itself (no pg_controldata of the major): a file that does not decode (a torn write) leaves the raw identity.
    private static Dictionary<string, string> Decoded(string rawControl)
    {
        try { return ControlData.FromOutput(rawControl, new PgNode("guard")); }
        catch (RefusedException) { return new Dictionary<string, string>(); }
    }

    /// <summary>The inspection's output, read (pure: unit-tested without a host).</summary>
    internal static DataDirectoryIdentity Parse(string output, string node, string path)
    {
        var marker = output.IndexOf("--controldata\n", StringComparison.Ordinal);
        var rawControl = output.IndexOf("--pg_control ", StringComparison.Ordinal);
        var head = marker >= 0 ? output[..marker] : rawControl >= 0 ? output[..rawControl] : output;
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in head.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = line.IndexOf('=');
            if (eq > 0) values[line[..eq]] = line[(eq + 1)..].Trim();
        }
        var control = marker >= 0 ? ControlData.Parse(output[(marker + "--controldata\n".Length)..]) : rawControl >= 0 ? Decoded(output[rawControl..]) : new Dictionary<string, string>();

        string? Value(string key) => values.TryGetValue(key, out var v) && v.Length > 0 ? v : null;
        int? Int(string? v) => int.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out var i) ? i : null;

        var sysid = control.GetValueOrDefault("Database system identifier") ?? (Value("raw_sysid") is { } raw && raw != "0" ? raw : null);
        var state = control.GetValueOrDefault("Database cluster state") ??
                    (Int(Value("raw_state")) is { } s && s < StateNames.Length ? StateNames[s] : null);
        var timeline = Int(control.GetValueOrDefault("Latest checkpoint's TimeLineID"));
        var alive = Value("alive") == "1";
        var standbyMarker = Value("standby_marker") == "1";
        var pgVersion = Value("pg_version");
        var kind =
            Value("inuse") != "1" ? DataDirectoryKind.Empty :
            pgVersion is null && Value("backup_label") != "1" ? DataDirectoryKind.NotACluster :
            Value("control") != "1" ? DataDirectoryKind.UnfinishedCopy :
            sysid is null && state is null ? DataDirectoryKind.OtherMajor :
            !alive ? DataDirectoryKind.Stopped :
            state == "in archive recovery" || standbyMarker && state is not "in production" ? DataDirectoryKind.RunningStandby :
            DataDirectoryKind.RunningPrimary;
        return new DataDirectoryIdentity
        {
            Node = node, Path = path, Kind = kind, SystemIdentifier = sysid, ClusterState = state, Timeline = timeline, Major = pgVersion,
            PostmasterPid = alive ? Int(Value("pid")) : null, PostmasterPort = alive ? Int(Value("port")) : null, StandbyMarker = standbyMarker,
            BackupLabel = Value("backup_label") == "1", BootId = Value("boot"), MountNamespace = Value("mntns"), Inode = Value("inode"), RealPath = Value("real"), NestedDataDirectory = Value("nested"),
        };
    }

    /// <summary>
    /// Refuses, whatever -Force says, to destroy the source primary's directory, one that holds it or lies in it, a running
    /// primary, a data directory of another major, or a directory that holds other data directories; without -Force,
    /// anything but an empty directory. <paramref name="step"/> says what would be done ("stop and empty").
    /// </summary>
    public static void EnsureMayReplace(DataDirectoryIdentity target, PgNode source, bool force, string step, string forceHint)
    {
        var what = target.Describe(source);
        var where = $"On {target.Node}, {target.Path} is {what}";
        if (target.IsSourcePrimary || target.OverlapsSourcePrimary)
            throw new RefusedException(ErrorReasons.TargetIsSourcePrimary, $"{where}: refused to {step} it, with or without -Force. Give the standby's own data directory (-DataDirectory).");
        if (target.Kind == DataDirectoryKind.RunningPrimary)
            throw new RefusedException(ErrorReasons.TargetIsRunningPrimary, $"{where}: a running primary is never replaced, with or without -Force. Stop it yourself if it really is to go, or give another directory.");
        if (target.Kind == DataDirectoryKind.OtherMajor)
            throw new RefusedException(ErrorReasons.TargetIsOtherMajor, $"{where}, but {source.Name} runs PostgreSQL {source.MajorVersion}: refused to {step} it, with or without -Force. Remove it yourself, or give another directory.");
        if (target.Kind == DataDirectoryKind.NotACluster && target.NestedDataDirectory is not null)
            throw new RefusedException(ErrorReasons.TargetHoldsDataDirectories, $"{where}: refused to {step} it, with or without -Force. Give the data directory itself.");
        if (target.InUse && !force)
            throw new RefusedException(ErrorReasons.TargetNotEmpty, $"{where}. {forceHint}");
    }
}
