namespace PgReplication.Core.Model;

/// <summary>The kinds of security fault Test-PgReplication warns about and the acceptance kit fails on.</summary>
public enum SecurityFindingKind
{
    /// <summary>primary_conninfo (postgresql.auto.conf from 12, recovery.conf before) holds a password in plain text.</summary>
    PasswordInConninfo,
    /// <summary>A pg_hba.conf line admits replication connections with trust, md5 or password.</summary>
    WeakReplicationLine,
    /// <summary>Standbys log in for replication as a superuser.</summary>
    SuperuserReplicationRole,
    /// <summary>promote_trigger_file (12-15), or trigger_file in recovery.conf (before 12), in a directory anyone can write to.</summary>
    TriggerFileInSharedDirectory,
    /// <summary>A configuration file or a passfile that other OS users can read (the acceptance kit, through the host's shell).</summary>
    ReadableByOthers,
}

/// <summary>
/// One security fault of a replication setup: the host it is on, what it is (a setting, a pg_hba.conf line, a role, a
/// file: never a secret, a password is "a password"), why it matters, and the command that fixes it.
/// </summary>
public sealed record SecurityFinding(string Host, SecurityFindingKind Kind, string Subject, string Problem, string Fix)
{
    /// <summary>"db2: primary_conninfo (...) in ... holds a password in plain text. Fix: Enable-PgHotStandby db2 -Primary db1 ...".</summary>
    public string Message => $"{Host}: {Subject} {Problem}. Fix: {Fix}.";

    public override string ToString() => Message;
}
