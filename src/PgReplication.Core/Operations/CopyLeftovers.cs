using System.Globalization;
using System.Net;
using PgReplication.Core.Hosts;
using PgReplication.Core.Model;
using PgReplication.Core.Sql;

namespace PgReplication.Core.Operations;

/// <summary>
/// What a base backup whose connection to the standby host was lost leaves behind, and how the next run deals with
/// it: pg_basebackup goes on on the host (or dies of SIGPIPE and leaves its WAL streamer running, holding the slot),
/// a copy without global/pg_control, a WAL sender on the primary that still holds the slot. See docs/design.md.
/// </summary>
internal static class CopyLeftovers
{
    private static readonly TimeSpan Short = TimeSpan.FromSeconds(30);

    // $1 = the passfile, $2 = the standby marker and $3 its content, $4 the data directory, then the command. A trapped
    // TERM (the remote deadline signals the whole group) lets the shell outlive pg_basebackup to do this; children get
    // the default actions back. pg_basebackup runs with --no-sync: instead of an fsync per file, one syncfs per file
    // system (the data directory's, pg_wal's, each tablespace's), with global/pg_control held aside until everything
    // else and the standby marker are on disk, so a crash meanwhile leaves a copy that cannot start (a rerun redoes it).
    // A pg_basebackup that fails cleans the directory itself, but one killed by a signal (SIGPIPE when the SSH session
    // that read its progress is gone) after its base tar had written pg_control leaves a copy without the standby
    // marker that would start as a second primary: on failure pg_control goes. Its WAL streamer outlives a parent killed
    // so (only a clean exit stops it), streaming on and holding the slot: the pg_basebackup processes of this process
    // group that write into this data directory (this copy's alone) are ended first.
    internal const string AfterCopy =
        "p=$1; m=$2; c=$3; d=$4; shift 4; trap : TERM HUP INT PIPE; \"$@\"; rc=$?; rm -f -- \"$p\"; " +
        "if [ $rc -eq 0 ]; then k=\"$d/global/pg_control\"; mv -f -- \"$k\" \"$k.pgreplication\" && " +
        "set -- \"$d\" \"$d/pg_wal/\"; for t in \"$d\"/pg_tblspc/*; do [ -d \"$t/\" ] && set -- \"$@\" \"$t/\"; done; sync -f \"$@\" && " +
        "{ [ -e \"$m\" ] || (umask 077; printf '%s' \"$c\" > \"$m\"); } && mv -f -- \"$k.pgreplication\" \"$k\" && sync -f \"$d\" || rc=1; " +
        "else for q in $(pgrep -g 0 -x pg_basebackup); do tr '\\000' '\\n' < /proc/$q/cmdline 2>/dev/null | grep -qxF -- \"$d\" && kill -TERM $q; done; " +
        "rm -f -- \"$d/global/pg_control\"; fi; exit $rc";

    /// <summary>
    /// What an earlier copy may have left writing into the target, listed on this host for <paramref name="user"/> (<see
    /// cref="WritersInto"/> keeps those writing into the data directory or a tablespace's folder): pg_basebackup (or its WAL streamer), and the
    /// receiving ends of -Method Parallel's streams: `tar -C &lt;folder&gt; -xpf -` and the `cat` that appends the rest of
    /// a cut file. A cut network leaves those alive with their TCP connection, which carries on when the link is back:
    /// the old stream would then write into files a rerun keeps or appends to (a standby with rows twice).
    /// </summary>
    internal static string List(IHostShell shell, string user)
    {
        // Only processes in this shell's mount namespace: a copy into the same path in a container is another directory.
        // Per process: PID, where its standard output goes, then its command line.
        const string script =
            "self=$(readlink /proc/self/ns/mnt); for p in $(pgrep -u \"$1\" -x 'pg_basebackup|tar|cat'); do " +
            "[ \"$(readlink /proc/$p/ns/mnt 2>/dev/null)\" = \"$self\" ] || continue; " +
            "printf '%s\\037%s\\037' \"$p\" \"$(readlink /proc/$p/fd/1 2>/dev/null)\"; tr '\\000' '\\037' < /proc/$p/cmdline; echo; done; true";
        return shell.Run(new HostCommand("sh", "-c", script, "sh", user) { RunAs = user, Timeout = Short }).StandardOutput;
    }

    /// <summary>The PIDs of <see cref="List"/>'s listing (pure): which of the listed processes write into the targets.</summary>
    internal static IReadOnlyList<int> WritersInto(string listing, IReadOnlyList<string> targets)
    {
        var roots = targets.Select(t => t.TrimEnd('/')).Where(t => t.Length > 0).ToList();
        bool IsRoot(string path) => roots.Contains(path.TrimEnd('/'));
        bool IsUnder(string path) => roots.Any(root => path.StartsWith(root + "/", StringComparison.Ordinal));
        var pids = new List<int>();
        foreach (var line in listing.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var fields = line.TrimEnd('\u001f').Split('\u001f');
            if (fields.Length < 3 || !int.TryParse(fields[0], NumberStyles.None, CultureInfo.InvariantCulture, out var pid)) continue;
            var (output, command) = (fields[1], fields[2..]);
            var program = command[0][(command[0].LastIndexOf('/') + 1)..];
            var writes = program switch
            {
                "pg_basebackup" => Array.IndexOf(command, "-D") is var d and > 0 && d + 1 < command.Length && IsRoot(command[d + 1]),
                // Exactly the receivers ParallelCopy starts: an admin's own tar or cat is never taken for one.
                "tar" => command is [_, "-C", var folder, ParallelCopy.ReceiverTarFlags, "-"] && IsRoot(folder),
                "cat" => command.Length == 1 && IsUnder(output),
                _ => false,
            };
            if (writes) pids.Add(pid);
        }
        return pids;
    }

    internal static void Stop(IHostShell shell, IReadOnlyList<int> pids, PgNode standby, IOperationLog log)
    {
        // TERM, up to 10 s to end, then KILL.
        const string script =
            "kill -TERM \"$@\" 2>/dev/null; i=0; while [ $i -lt 50 ]; do alive=; for p; do kill -0 \"$p\" 2>/dev/null && alive=1; done; " +
            "[ -n \"$alive\" ] || exit 0; sleep 0.2; i=$((i+1)); done; kill -KILL \"$@\" 2>/dev/null; true";
        var args = new List<string> { "-c", script, "sh" };
        args.AddRange(pids.Select(p => p.ToString(CultureInfo.InvariantCulture)));
        shell.Run(new HostCommand("sh", args.ToArray()) { RunAs = standby.OsUser, Timeout = Short }).EnsureSuccess();
        log.Verbose($"{standby.Name}: stopped what an earlier copy left writing into the target (PID {string.Join(", ", pids)}).");
    }

    /// <summary>
    /// The WAL sender holding the standby's slot for an earlier copy to this standby (its application_name, from
    /// its address): left when that copy's connection was lost (a cut network: the primary notices only at
    /// wal_sender_timeout). Anyone else holding it (a server that streams with it) is refused, never ended.
    /// </summary>
    internal static int? StaleSlotHolder(PgSession session, string slot, PgNode standby, PgNode primary, string copyApplicationName)
    {
        var row = session.Query("""
            SELECT s.active_pid, pg_catalog.host(r.client_addr) AS client, r.application_name
              FROM pg_catalog.pg_replication_slots s LEFT JOIN pg_catalog.pg_stat_replication r ON r.pid = s.active_pid
             WHERE s.slot_name = @slot AND s.active
            """, ("slot", slot)).SingleOrDefault();
        if (row?.Get<int>("active_pid") is not (> 0 and var pid)) return null;
        var client = row.Text("client");
        if (row.Text("application_name") == copyApplicationName && client is not null &&
            AddressesOf(standby.ComputerName).Any(a => a.Equals(IPAddress.Parse(client))))
            return pid;
        throw new InvalidOperationException(
            $"On {primary.Name}, the slot {slot} is in use by a WAL sender (PID {pid}, application_name '{row.Text("application_name")}', client {client ?? "unknown"}): " +
            $"a server streams with it. Stop it, or give another -SlotName.");
    }

    private static IPAddress[] AddressesOf(string host)
    {
        if (IPAddress.TryParse(host.Trim('[', ']'), out var ip)) return new[] { ip };
        try { return Dns.GetHostAddresses(host).Select(a => a.IsIPv4MappedToIPv6 ? a.MapToIPv4() : a).ToArray(); }
        catch (System.Net.Sockets.SocketException) { return Array.Empty<IPAddress>(); }
    }

    internal static void EndSlotHolder(PgNode primary, string slot, int pid, IOperationLog log)
    {
        using var session = PgSession.Open(primary, log: log);
        session.Scalar<bool>("SELECT pg_catalog.pg_terminate_backend(@pid)", ("pid", pid));
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while (session.Scalar<bool>("SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_replication_slots WHERE slot_name = @slot AND active)", ("slot", slot)))
        {
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"On {primary.Name}, the slot {slot} is still in use 15 s after its WAL sender (PID {pid}) was asked to end.");
            Thread.Sleep(200);
        }
        log.Verbose($"{primary.Name}: ended the WAL sender (PID {pid}) that still held the slot {slot}.");
    }
}
