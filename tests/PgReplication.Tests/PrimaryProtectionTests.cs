using System.Security.Cryptography;
using System.Text;
using PgReplication.Core.Hosts;

namespace PgReplication.Tests;

/// <summary>
/// A destructive step aimed at the wrong place, on one host (-Local): the primary's own data directory (by its name, a
/// symlink, its parent), a running primary of another cluster, a down node whose directory is not known. Each refused,
/// naming what is there, and the primary unchanged: its files, its rows, and it still takes writes.
/// </summary>
public sealed class PrimaryProtectionTests : IClassFixture<LocalCluster>, IDisposable
{
    private readonly LocalCluster _primary;
    private readonly ModuleRunspace _ps = new();
    private const string ReplicationUser = "protect_repl";
    private readonly string _replicationPassword = "Pr0tect-" + Guid.NewGuid().ToString("N")[..12];
    private readonly List<string> _cleanup = new();

    public PrimaryProtectionTests(LocalCluster primary)
    {
        _primary = primary;
        _primary.Sql($"DO $$BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{ReplicationUser}') THEN CREATE ROLE {ReplicationUser} LOGIN REPLICATION; END IF; END$$");
        _primary.Sql($"ALTER ROLE {ReplicationUser} PASSWORD '{_replicationPassword}'");
        _primary.Sql("CREATE TABLE IF NOT EXISTS precious (id int PRIMARY KEY); INSERT INTO precious VALUES (1) ON CONFLICT DO NOTHING");
    }

    private Dictionary<string, object?> Vars(string directory, int? port = null) => new()
    {
        ["pp"] = _primary.Port, ["sp"] = port ?? LocalCluster.FreePort(), ["dir"] = directory,
        ["admin"] = ClusterHelpers.PsCredential(LocalCluster.AdminUser, _primary.Password),
        ["repl"] = ClusterHelpers.PsCredential(ReplicationUser, _replicationPassword),
    };

    private const string Nodes = """
        $primary = New-PgNode -Local -Port $pp -Credential $admin
        $standby = New-PgNode "127.0.0.1:$sp" -Local -NoConnect -Credential $admin -ErrorAction SilentlyContinue
        """;

    /// <summary>
    /// What must not change on the primary: its configuration, its pid file (same postmaster, same start), the names of its
    /// relation files, and the precious row; and it still takes a write.
    /// </summary>
    private string PrimaryFingerprint()
    {
        var data = _primary.DataDirectory;
        var text = new StringBuilder();
        foreach (var file in new[] { "PG_VERSION", "postgresql.conf", "postgresql.auto.conf", "pg_hba.conf", "postmaster.pid" })
            text.Append(file).Append('=').Append(ClusterHelpers.Hash(Path.Combine(data, file))).Append('\n');
        foreach (var path in Directory.EnumerateFiles(Path.Combine(data, "base"), "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
            text.Append(Path.GetRelativePath(data, path)).Append('\n');
        text.Append("rows=").Append(_primary.Sql("SELECT string_agg(id::text, ',' ORDER BY id) FROM precious"));
        return Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())));
    }

    private void AssertPrimaryUnchanged(string before)
    {
        Assert.Equal(before, PrimaryFingerprint());
        Assert.Equal(false, _primary.Sql("SELECT pg_is_in_recovery()"));
        _primary.Sql("CREATE TEMP TABLE still_writable (id int); INSERT INTO still_writable VALUES (1)");
    }

    private static string Errors(ModuleRunspace.Result r) => string.Join("\n", r.Errors.Select(e => e.ErrorDetails?.Message ?? e.Exception.Message));

    [Theory]
    [InlineData("")]
    [InlineData(" -Force")]
    [InlineData(" -Method Parallel")]
    [InlineData(" -Method Parallel -Force")]
    [InlineData(" -Method Rsync -Force")]
    [InlineData(" -Method PgBaseBackup -Force")]
    public void A_base_backup_into_the_primarys_own_directory_is_refused_and_changes_nothing(string force)
    {
        var before = PrimaryFingerprint();
        var r = _ps.Invoke(Nodes + $"\n$standby | Invoke-PgBaseBackup -Primary $primary -Credential $repl -DataDirectory $dir{force} -Confirm:$false",
            Vars(_primary.DataDirectory));
        Assert.Empty(r.Output);
        var message = Errors(r);
        Assert.Contains("itself", message);
        Assert.Contains(_primary.DataDirectory, message);
        Assert.Contains("127.0.0.1", message);
        AssertPrimaryUnchanged(before);
    }

    [Fact]
    public void A_symlink_to_the_primarys_directory_and_its_parent_are_refused_with_Force()
    {
        var before = PrimaryFingerprint();
        var link = Path.Combine(_primary.Root, "looks-new");
        File.CreateSymbolicLink(link, _primary.DataDirectory);
        _cleanup.Add(link);
        foreach (var method in new[] { "", " -Method Parallel" })
        foreach (var (target, expected) in new[] { (link, "itself"), (_primary.Root, "lies inside") })
        {
            var r = _ps.Invoke(Nodes + $"\n$standby | Invoke-PgBaseBackup -Primary $primary -Credential $repl -DataDirectory $dir -Force{method} -Confirm:$false",
                Vars(target));
            Assert.Empty(r.Output);
            Assert.Contains(expected, Errors(r));
        }
        AssertPrimaryUnchanged(before);
    }

    [Fact]
    public void WhatIf_names_what_the_target_holds_and_a_running_primary_of_another_cluster_is_never_replaced()
    {
        using var other = new LocalCluster();
        var before = PrimaryFingerprint();
        var whatIf = _ps.Invoke(Nodes + "\n$standby | Invoke-PgBaseBackup -Primary $primary -Credential $repl -DataDirectory $dir -Force -WhatIf",
            Vars(other.DataDirectory));
        Assert.Contains("a running primary of another cluster", Errors(whatIf));
        var forced = _ps.Invoke(Nodes + "\n$standby | Invoke-PgBaseBackup -Primary $primary -Credential $repl -DataDirectory $dir -Force -Confirm:$false",
            Vars(other.DataDirectory));
        Assert.Empty(forced.Output);
        Assert.Contains("never replaced", Errors(forced));
        Assert.Equal(1, Convert.ToInt32(other.Sql("SELECT 1")));
        Assert.Equal(false, other.Sql("SELECT pg_is_in_recovery()"));

        // Stopped, the other cluster is what -Force may replace; -WhatIf says which cluster it is.
        other.StopServer(other.DataDirectory);
        var stopped = _ps.Invoke(Nodes + "\n$standby | Invoke-PgBaseBackup -Primary $primary -Credential $repl -DataDirectory $dir -Force -WhatIf -Verbose",
            Vars(other.DataDirectory));
        Assert.Empty(stopped.Errors);
        var text = string.Join("\n", stopped.Verbose);
        Assert.Contains("a stopped cluster, system identifier", text);
        Assert.Contains("not 127.0.0.1", text);
        Assert.True(File.Exists(Path.Combine(other.DataDirectory, "PG_VERSION")));
        AssertPrimaryUnchanged(before);
    }

    [Fact]
    public void Enable_PgHotStandby_never_reconfigures_the_primary()
    {
        var before = PrimaryFingerprint();
        var r = _ps.Invoke(Nodes + "\n$standby.DataDirectory = $dir\n$standby.ServerVersion = $primary.ServerVersion\n$standby.ServerVersionNumber = $primary.ServerVersionNumber\n" +
                           "$standby | Enable-PgHotStandby -Primary $primary -Credential $repl -TimeoutSeconds 10",
            Vars(_primary.DataDirectory));
        Assert.Empty(r.Output);
        Assert.Contains("never reconfigures a running primary", Errors(r));
        Assert.False(File.Exists(Path.Combine(_primary.DataDirectory, "standby.signal")));
        AssertPrimaryUnchanged(before);
    }

    [Fact]
    public void Restore_PgStandby_of_a_down_node_needs_its_directory_and_refuses_the_primarys()
    {
        var before = PrimaryFingerprint();
        var unknown = _ps.Invoke(Nodes + "\n$standby | Restore-PgStandby -Primary $primary -Credential $repl -Confirm:$false", Vars(_primary.DataDirectory));
        Assert.Empty(unknown.Output);
        Assert.Contains("-DataDirectory", Errors(unknown));
        Assert.Contains("not known", Errors(unknown));

        var primarys = _ps.Invoke(Nodes + "\n$standby | Restore-PgStandby -Primary $primary -Credential $repl -DataDirectory $dir -Reclone -Confirm:$false",
            Vars(_primary.DataDirectory));
        Assert.Empty(primarys.Output);
        Assert.Contains("itself", Errors(primarys));
        AssertPrimaryUnchanged(before);
    }

    public void Dispose()
    {
        foreach (var path in _cleanup) File.Delete(path);
        _ps.Dispose();
    }
}
