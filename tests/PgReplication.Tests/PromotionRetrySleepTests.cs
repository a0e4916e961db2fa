using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace PgReplication.Tests;

/// <summary>
/// Issue 19: a promotion that PostgreSQL's startup process takes in just as its WAL receiver stops is left
/// waiting for the rest of wal_retrieve_retry_interval (5 s by default) after the old primary's crash. The
/// moment is brought about here on purpose, not by timing luck: the standby's upstream is a fake server
/// whose first connection fails (the walreceiver's first failure starts the retry clock) and whose second
/// hangs; the startup process is stopped (SIGSTOP) while Invoke-PgPromotion sends pg_promote, the hanging
/// walreceiver is then ended, and the startup process continued: it takes the wakeup of the promotion and of
/// the walreceiver's exit as one, finds no WAL receiver, and goes to sleep for wal_retrieve_retry_interval
/// (10 minutes here) with the promotion not yet seen. Without the module noticing that sleep and signalling
/// the promotion again, the cmdlet times out.
/// </summary>
public sealed class PromotionRetrySleepTests : IDisposable
{
    private readonly LocalCluster _primary = new();
    private readonly ModuleRunspace _ps = new();
    private readonly StallingUpstream _upstream = new();
    private readonly List<string> _standbyDirectories = new();
    private int? _stoppedPid;
    private const string ReplicationUser = "repl_retry";
    private readonly string _replicationPassword = "R3try-" + Guid.NewGuid().ToString("N")[..12];

    public PromotionRetrySleepTests()
    {
        _primary.Sql($"CREATE ROLE {ReplicationUser} LOGIN REPLICATION PASSWORD '{_replicationPassword}'");
    }

    [Fact]
    public void A_promotion_the_startup_process_sleeps_through_is_signalled_again()
    {
        var (port, dir) = _primary.NewStandbySpace("standby");
        _standbyDirectories.Add(dir);
        var vars = ClusterHelpers.Vars(_primary,
            ("sp", port), ("dir", dir), ("repl", ClusterHelpers.PsCredential(ReplicationUser, _replicationPassword)));
        var built = _ps.Invoke("""
            $primary = New-PgNode -Local -Port $port -Credential $cred
            New-PgNode "127.0.0.1:$sp" -Local -NoConnect -Credential $cred |
                Invoke-PgBaseBackup -Primary $primary -Credential $repl -DataDirectory $dir -Confirm:$false |
                Enable-PgHotStandby -TimeoutSeconds 60 | Out-Null
            """, vars);
        Assert.Empty(built.Errors);

        // The standby now takes its WAL from the fake upstream: its first connection is closed at once (the first
        // failure, which starts the retry clock), its second hangs (a walreceiver that is connecting).
        foreach (var sql in new[]
                 {
                     "ALTER SYSTEM SET wal_retrieve_retry_interval = '10min'",
                     $"ALTER SYSTEM SET primary_conninfo = 'host=127.0.0.1 port={_upstream.Port} user={ReplicationUser} application_name=retry_sleep'",
                     "ALTER SYSTEM RESET primary_slot_name",
                     "SELECT pg_catalog.pg_reload_conf()",
                 })
            _primary.Sql(sql, port);
        ClusterHelpers.WaitFor(() => _upstream.Held >= 1, "the standby's second connection to the fake upstream");
        var deadline = DateTime.UtcNow.AddSeconds(30);
        object? waitEvent;
        while ((waitEvent = StartupWaitEvent(port)) is not "RecoveryWalStream")
        {
            if (DateTime.UtcNow > deadline)
                Assert.Fail($"The startup process did not come to wait for the stream (its wait event: '{waitEvent}'); server log: " +
                            string.Join(" | ", File.ReadLines(Path.Combine(dir, "log", "pg_ctl.log")).TakeLast(8)));
            Thread.Sleep(200);
        }
        // The old primary is gone: the promotion's check of it finds nothing listening.
        _primary.StopServer(_primary.DataDirectory);

        var startup = Convert.ToInt32(_primary.Sql("SELECT pid FROM pg_catalog.pg_stat_activity WHERE backend_type = 'startup'", port));
        Signal("STOP", startup);
        _stoppedPid = startup;
        var promotion = Task.Run(() => _ps.Invoke("""
            $VerbosePreference = 'Continue'
            $old = New-PgNode -Local -Port $port -Credential $cred -NoConnect
            New-PgNode "127.0.0.1:$sp" -Local -Credential $cred | Invoke-PgPromotion -Primary $old -Confirm:$false -TimeoutSeconds 30
            """, vars));
        // pg_promote has written its signal file and signalled the postmaster; the startup process has not seen it.
        ClusterHelpers.WaitFor(() => File.Exists(Path.Combine(dir, "promote")) || promotion.IsCompleted, "pg_promote's signal file");
        Assert.False(promotion.IsCompleted, "The promotion ended before the startup process could take it in: " + Describe(promotion));
        Assert.NotEmpty(WalReceivers(dir));
        _upstream.ReleaseAll();
        ClusterHelpers.WaitFor(() => WalReceivers(dir).Count == 0, "the walreceiver's exit");
        Signal("CONT", startup);
        _stoppedPid = null;

        Assert.True(promotion.Wait(TimeSpan.FromSeconds(90)), "Invoke-PgPromotion did not return.");
        var r = promotion.Result;
        Assert.True(r.Errors.Count == 0, Describe(promotion));
        Assert.Equal(false, _primary.Sql("SELECT pg_catalog.pg_is_in_recovery()", port));
        var summary = r.Output.Single().Properties["PromotionSummary"].Value as PgReplication.Core.Operations.PromotionSummary;
        Assert.NotNull(summary);
        Assert.True(summary.NewTimeline > summary.OldTimeline, $"timeline {summary.OldTimeline} -> {summary.NewTimeline}");

        // The state this test is about was reached: the startup process went to sleep before it saw the promotion...
        var log = File.ReadAllLines(Path.Combine(dir, "log", "pg_ctl.log"));
        var received = Array.FindLastIndex(log, l => l.Contains("received promote request", StringComparison.Ordinal));
        var sleeping = Array.FindLastIndex(log, l => l.Contains("waiting for WAL to become available", StringComparison.Ordinal));
        Assert.True(received > 0 && sleeping >= 0 && sleeping < received, "server log:\n" + string.Join("\n", log.TakeLast(15)));
        // ...and the module found it there and signalled the promotion again.
        Assert.Contains(r.Verbose, v => v.Contains("wal_retrieve_retry_interval", StringComparison.Ordinal) && v.Contains("again", StringComparison.Ordinal));
    }

    private object? StartupWaitEvent(int port) =>
        _primary.Sql("SELECT wait_event FROM pg_catalog.pg_stat_activity WHERE backend_type = 'startup'", port);

    /// <summary>The walreceiver processes of the server in <paramref name="dataDirectory"/>: children of its postmaster (found in /proc).</summary>
    private static List<int> WalReceivers(string dataDirectory)
    {
        var postmaster = File.ReadLines(Path.Combine(dataDirectory, "postmaster.pid")).First().Trim();
        var found = new List<int>();
        foreach (var proc in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(proc), out var pid)) continue;
            try
            {
                var stat = File.ReadAllText(Path.Combine(proc, "stat"));
                var parent = stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[1];
                if (parent == postmaster && File.ReadAllText(Path.Combine(proc, "cmdline")).Contains("walreceiver", StringComparison.Ordinal)) found.Add(pid);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException) { } // gone meanwhile
        }
        return found;
    }

    private static string Describe(Task<ModuleRunspace.Result> promotion) =>
        !promotion.IsCompleted ? "still running" :
        promotion.IsFaulted ? promotion.Exception!.ToString() :
        string.Join("\n", promotion.Result.Errors.Select(e => e.ToString()).Concat(promotion.Result.Verbose));

    private static void Signal(string signal, int pid)
    {
        using var kill = Process.Start(new ProcessStartInfo("kill", new[] { "-" + signal, pid.ToString(System.Globalization.CultureInfo.InvariantCulture) }))!;
        kill.WaitForExit();
        Assert.Equal(0, kill.ExitCode);
    }

    public void Dispose()
    {
        if (_stoppedPid is { } pid) Signal("CONT", pid);
        _upstream.Dispose();
        foreach (var dir in _standbyDirectories) _primary.StopServer(dir);
        _ps.Dispose();
        _primary.Dispose();
    }

    /// <summary>A TCP server on 127.0.0.1 that closes its first connection at once and holds every later one open, silent.</summary>
    private sealed class StallingUpstream : IDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly List<Socket> _held = new();
        private readonly CancellationTokenSource _stop = new();
        private int _accepted;

        public StallingUpstream()
        {
            _listener.Start();
            _ = Task.Run(async () =>
            {
                while (!_stop.IsCancellationRequested)
                {
                    Socket s;
                    try { s = await _listener.AcceptSocketAsync(_stop.Token); }
                    catch (Exception) { return; }
                    if (Interlocked.Increment(ref _accepted) == 1) { s.Close(); continue; }
                    lock (_held) _held.Add(s);
                }
            });
        }

        public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

        public int Held { get { lock (_held) return _held.Count; } }

        public void ReleaseAll()
        {
            lock (_held)
            {
                foreach (var s in _held) s.Close();
                _held.Clear();
            }
        }

        public void Dispose()
        {
            _stop.Cancel();
            _listener.Stop();
            ReleaseAll();
        }
    }
}
