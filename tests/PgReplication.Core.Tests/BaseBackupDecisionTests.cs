using System.Net;
using PgReplication.Core.Hosts;
using PgReplication.Core.Model;
using PgReplication.Core.Operations;

namespace PgReplication.Core.Tests;

/// <summary>Invoke-PgBaseBackup's refusals and method, decided from the facts its plan reads (no host).</summary>
public sealed class BaseBackupDecisionTests
{
    private const ulong SystemId = 7300000000000000001;
    private static readonly PgNode Primary = new("db1") { Role = NodeRole.Primary, ServerVersion = new Version(15, 18), SystemIdentifier = SystemId };

    private static BaseBackupRequest Request(bool force = false, BaseBackupMethod? method = null) => new()
    {
        Standby = new PgNode("db2"), Primary = Primary, Replication = new NetworkCredential("replicator", "secret"), Force = force, Method = method,
    };

    private static BaseBackup.Facts Facts(DataDirectoryKind kind = DataDirectoryKind.Empty, string? systemId = null, string tool = "pg_basebackup (PostgreSQL) 15.18",
        string standbyArch = "x86_64", bool standbyMarker = false) => new()
    {
        BinDirectory = "/usr/lib/postgresql/15/bin", StandbyHost = "db2",
        ToolVersion = new CommandResult { Host = "db2", CommandLine = "pg_basebackup --version", ExitCode = 0, StandardOutput = tool },
        StandbyArchitecture = standbyArch, PrimaryArchitecture = "x86_64",
        Target = new DataDirectoryIdentity { Node = "db2", Path = "/var/lib/postgresql/15/main", Kind = kind, SystemIdentifier = systemId, StandbyMarker = standbyMarker },
        Leftovers = Array.Empty<int>(), Tablespaces = Array.Empty<TablespaceInfo>(), DatabaseBytes = 30L << 20,
    };

    private static BaseBackup.Decision Decide(BaseBackupRequest request, BaseBackup.Facts facts, bool guessedPath = false) =>
        BaseBackup.Decide(request, facts, 15, "/var/lib/postgresql/15/main", guessedPath, overSsh: true);

    [Fact]
    public void An_empty_target_takes_pg_basebackup()
    {
        Assert.Equal(BaseBackupMethod.PgBaseBackup, Decide(Request(), Facts()).Method);
    }

    [Fact]
    public void Another_architecture_is_refused_naming_both()
    {
        var ex = Assert.Throws<RefusedException>(() => Decide(Request(), Facts(standbyArch: "aarch64")));
        Assert.Equal(ErrorReasons.ArchitectureMismatch, ex.Reason);
        Assert.Contains("aarch64", ex.Message);
    }

    [Fact]
    public void A_pg_basebackup_of_another_major_is_refused_unless_another_method_is_asked()
    {
        var ex = Assert.Throws<RefusedException>(() => Decide(Request(method: BaseBackupMethod.PgBaseBackup), Facts(tool: "pg_basebackup (PostgreSQL) 14.2")));
        Assert.Equal(ErrorReasons.VersionMismatch, ex.Reason);
        Assert.Equal(BaseBackupMethod.Parallel, Decide(Request(method: BaseBackupMethod.Parallel), Facts(tool: "pg_basebackup (PostgreSQL) 14.2")).Method);
    }

    [Fact]
    public void A_directory_of_another_cluster_needs_Force_and_a_guessed_path_never_replaces_it()
    {
        var other = Facts(DataDirectoryKind.Stopped, systemId: "7399999999999999999");
        var refused = Assert.Throws<RefusedException>(() => Decide(Request(), other));
        Assert.Equal(ErrorReasons.TargetNotEmpty, refused.Reason);
        Assert.Equal(BaseBackupMethod.PgBaseBackup, Decide(Request(force: true), other).Method);
        var guessed = Assert.Throws<RefusedException>(() => Decide(Request(force: true), other, guessedPath: true));
        Assert.Equal(ErrorReasons.GuessedPathNotOurs, guessed.Reason);
    }

    [Fact]
    public void A_stopped_copy_of_this_primary_is_left_alone_without_Force()
    {
        var copy = Facts(DataDirectoryKind.Stopped, systemId: SystemId.ToString(), standbyMarker: true);
        Assert.Equal(BaseBackupMethod.PgBaseBackup, Decide(Request(), copy, guessedPath: true).Method);
    }
}
