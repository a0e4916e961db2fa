namespace PgReplication.Core.Versions;

/// <summary>What kind of thing a rule is about: help and docs group rules by it.</summary>
public enum RuleKind
{
    /// <summary>A server setting (GUC) this module reads or writes.</summary>
    Setting,
    /// <summary>A SQL function or view.</summary>
    Function,
    /// <summary>A file or mechanism (recovery.conf, standby.signal).</summary>
    Mechanism,
}

/// <summary>
/// One fact about where something exists: from <see cref="FirstMajor"/> to <see cref="LastMajor"/>
/// (null: still there). <see cref="Source"/> names the release note that says so.
/// </summary>
public sealed record VersionRule(string Name, RuleKind Kind, int FirstMajor, int? LastMajor, string Source, string Purpose)
{
    public bool AppliesTo(int major) => major >= FirstMajor && (LastMajor is null || major <= LastMajor);

    /// <summary>"10+", "10-12", "16+": for help tables.</summary>
    public string Majors => LastMajor is null ? $"{FirstMajor}+" : $"{FirstMajor}-{LastMajor}";
}

/// <summary>
/// The one place that knows what differs between PostgreSQL majors, as data: help and docs are
/// generated from <see cref="All"/>, and operations ask <see cref="Applies"/> instead of
/// comparing version numbers themselves.
/// </summary>
public static class VersionRules
{
    /// <summary>The majors this module is tested against.</summary>
    public const int OldestMajor = PgVersion.OldestSupportedMajor;
    public const int NewestMajor = 18;

    // Names used by operations: constants so a typo is a compile error.
    public const string ListenAddresses = "listen_addresses";
    public const string WalLevel = "wal_level";
    public const string MaxWalSenders = "max_wal_senders";
    public const string MaxReplicationSlots = "max_replication_slots";
    public const string WalKeepSize = "wal_keep_size";
    public const string WalKeepSegments = "wal_keep_segments";
    public const string MaxSlotWalKeepSize = "max_slot_wal_keep_size";
    public const string HotStandby = "hot_standby";
    public const string WalLogHints = "wal_log_hints";
    public const string SynchronousStandbyNames = "synchronous_standby_names";
    public const string ArchiveMode = "archive_mode";
    public const string ArchiveCommand = "archive_command";
    public const string PasswordEncryption = "password_encryption";
    public const string RecoveryConf = "recovery.conf";
    public const string StandbySignal = "standby.signal";
    public const string PgPromote = "pg_promote()";
    public const string PrimaryConninfoReload = "primary_conninfo reload";
    public const string PgBackupStart = "pg_backup_start()";
    public const string PgStartBackup = "pg_start_backup()";
    public const string PgHbaFileRules = "pg_hba_file_rules";
    public const string PgHbaFileRulesRuleNumber = "pg_hba_file_rules.rule_number";
    public const string PromoteTriggerFile = "promote_trigger_file";
    public const string ScramSha256 = "scram-sha-256";

    public static IReadOnlyList<VersionRule> All { get; } = new VersionRule[]
    {
        // Settings Set-PgMasterConfig manages.
        new(ListenAddresses, RuleKind.Setting, 10, null, "PostgreSQL 10 docs: runtime-config-connection",
            "Addresses the server listens on; the standbys' addresses must be covered (restart)."),
        new(WalLevel, RuleKind.Setting, 10, null, "PostgreSQL 10 release notes: default wal_level is replica",
            "replica or logical, so standbys can replay the WAL (restart)."),
        new(MaxWalSenders, RuleKind.Setting, 10, null, "PostgreSQL 10 release notes: default max_wal_senders 10",
            "At least one sender per standby plus two spare (restart)."),
        new(MaxReplicationSlots, RuleKind.Setting, 10, null, "PostgreSQL 10 release notes: default max_replication_slots 10",
            "At least one slot per standby plus two spare (restart)."),
        new(WalKeepSegments, RuleKind.Setting, 10, 12, "PostgreSQL 13 release notes: wal_keep_segments replaced by wal_keep_size",
            "WAL kept for standbys, in 16 MB segments (reload)."),
        new(WalKeepSize, RuleKind.Setting, 13, null, "PostgreSQL 13 release notes: wal_keep_size replaces wal_keep_segments",
            "WAL kept for standbys, in MB (reload)."),
        new(MaxSlotWalKeepSize, RuleKind.Setting, 13, null, "PostgreSQL 13 release notes: max_slot_wal_keep_size added",
            "Upper bound on WAL a replication slot may hold back (reload)."),
        new(HotStandby, RuleKind.Setting, 10, null, "PostgreSQL 10 release notes: hot_standby defaults to on",
            "Standbys accept read-only queries (restart, read on the standby)."),
        new(WalLogHints, RuleKind.Setting, 10, null, "PostgreSQL 9.4 release notes: wal_log_hints added",
            "Needed by pg_rewind unless data checksums are on (restart)."),
        new(SynchronousStandbyNames, RuleKind.Setting, 10, null, "PostgreSQL 10 release notes: FIRST and ANY quorum syntax",
            "Synchronous replication: FIRST n (...) or ANY n (...) (reload)."),
        new(ArchiveMode, RuleKind.Setting, 10, null, "PostgreSQL 10 docs: continuous archiving",
            "on when WAL archiving is set up (restart)."),
        new(ArchiveCommand, RuleKind.Setting, 10, null, "PostgreSQL 10 docs: continuous archiving",
            "The command that copies each finished WAL file; must fail when the copy fails (reload)."),
        new(PasswordEncryption, RuleKind.Setting, 10, null, "PostgreSQL 10 release notes: SCRAM-SHA-256 authentication",
            "Not written: New-PgReplicationUser sends a SCRAM verifier computed on the client."),
        new(ScramSha256, RuleKind.Mechanism, 10, null, "PostgreSQL 10 release notes: SCRAM-SHA-256 authentication",
            "Password verifiers and pg_hba.conf method scram-sha-256."),

        // Standby mechanics (used by the standby-side cmdlets; listed here so all majors' facts are in one place).
        new(RecoveryConf, RuleKind.Mechanism, 10, 11, "PostgreSQL 12 release notes: recovery.conf merged into postgresql.conf",
            "Standby settings in recovery.conf with standby_mode = on."),
        new(StandbySignal, RuleKind.Mechanism, 12, null, "PostgreSQL 12 release notes: standby.signal replaces standby_mode",
            "An empty standby.signal in the data directory makes a standby; settings live in postgresql.auto.conf."),
        new(PgPromote, RuleKind.Function, 12, null, "PostgreSQL 12 release notes: pg_promote() added",
            "Promotes a standby from SQL (before 12: pg_ctl promote)."),
        new(PrimaryConninfoReload, RuleKind.Mechanism, 13, null, "PostgreSQL 13 release notes: primary_conninfo can change on reload",
            "A standby can be re-pointed with a reload (before 13: a restart)."),
        new(PgStartBackup, RuleKind.Function, 10, 14, "PostgreSQL 15 release notes: pg_start_backup renamed pg_backup_start",
            "Low-level base backup start (exclusive mode removed in 15)."),
        new(PgBackupStart, RuleKind.Function, 15, null, "PostgreSQL 15 release notes: pg_backup_start/pg_backup_stop",
            "Low-level base backup start."),
        new(PgHbaFileRules, RuleKind.Function, 10, null, "PostgreSQL 10 release notes: pg_hba_file_rules view added",
            "Checks pg_hba.conf as the server would parse it (error column) before a reload."),
        new(PgHbaFileRulesRuleNumber, RuleKind.Function, 15, null, "PostgreSQL 15 release notes: pg_hba_file_rules gains rule_number and file_name",
            "Rule numbers and the file each rule comes from."),
        new(PromoteTriggerFile, RuleKind.Setting, 12, 15, "PostgreSQL 16 release notes: promote_trigger_file removed",
            "A file whose creation promotes a standby (trigger_file in recovery.conf before 12)."),
    };

    /// <summary>The rule named <paramref name="name"/>.</summary>
    public static VersionRule Get(string name) =>
        All.FirstOrDefault(r => r.Name == name) ?? throw new ArgumentException($"No version rule is named '{name}'.", nameof(name));

    /// <summary>True when <paramref name="name"/> exists in <paramref name="major"/>.</summary>
    public static bool Applies(string name, int major) => Get(name).AppliesTo(major);

    /// <summary>The setting that keeps WAL for standbys: wal_keep_size from 13, wal_keep_segments before.</summary>
    public static string WalKeepSetting(int major) => Applies(WalKeepSize, major) ? WalKeepSize : WalKeepSegments;

    /// <summary>The rules that apply to <paramref name="major"/>.</summary>
    public static IEnumerable<VersionRule> For(int major) => All.Where(r => r.AppliesTo(major));

    /// <summary>
    /// The rules as a Markdown table (name, majors, purpose, source), optionally of one kind:
    /// what help and docs print, so they cannot drift from the code.
    /// </summary>
    public static string ToMarkdownTable(RuleKind? kind = null)
    {
        var text = new System.Text.StringBuilder();
        text.AppendLine("| Name | Majors | What it is for | Source |");
        text.AppendLine("|---|---|---|---|");
        foreach (var rule in All.Where(r => kind is null || r.Kind == kind))
            text.AppendLine($"| {rule.Name} | {rule.Majors} | {rule.Purpose} | {rule.Source} |");
        return text.ToString();
    }
}
