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
    /// <summary>A privilege a role that is not a superuser can be given: what New-PgAdminRole grants.</summary>
    Privilege,
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
/// One grant of the daily-work admin role: the statement (with {0} for the quoted role) and a boolean SQL
/// expression, with @role, that is true once the role holds it; <see cref="Description"/> is what -WhatIf says.
/// </summary>
public sealed record RoleGrant(string Statement, string HeldQuery, string Description)
{
    public string For(string quotedRole) => string.Format(System.Globalization.CultureInfo.InvariantCulture, Statement, quotedRole);
}

/// <summary>The SQL that starts and stops a non-exclusive low-level backup (see <see cref="VersionRules.BackupFunctions"/>).</summary>
public sealed record BackupCalls(string Start, string Stop);

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
    public const string PgStopBackup = "pg_stop_backup()";
    public const string PgBackupStop = "pg_backup_stop()";
    public const string ArchiveLibrary = "archive_library";
    public const string WalFunctionNames = "wal function names";
    public const string PgCtlPromote = "pg_ctl promote -w";
    public const string RecoveryTargetTimelineLatest = "recovery_target_timeline default latest";
    public const string WalReceiverSenderHost = "pg_stat_wal_receiver.sender_host";
    public const string SlotWalStatus = "pg_replication_slots.wal_status";
    public const string PgReadFileMissingOk = "pg_read_file(path, offset, length, missing_ok)";
    public const string PgReadFileAnyPath = "pg_read_file() outside the data directory";
    public const string DataChecksumsByDefault = "initdb data checksums by default";
    public const string RetrieveRetryWaitEvent = "wait event RecoveryRetrieveRetryInterval";
    public const string BackupManifest = "pg_basebackup backup manifest";
    public const string PgMonitor = "pg_monitor";
    public const string PgReadServerFiles = "pg_read_server_files";
    public const string PgCheckpoint = "pg_checkpoint";
    public const string AlterSystemOnParameter = "GRANT ALTER SYSTEM ON PARAMETER";
    public const string RewindFunctions = "EXECUTE on pg_rewind's file functions";
    public const string RewindRestoreTargetWal = "pg_rewind --restore-target-wal";
    public const string RewindConfigFile = "pg_rewind --config-file";
    public const string SyncReplicationSlots = "sync_replication_slots";
    public const string SynchronizedStandbySlots = "synchronized_standby_slots";
    public const string FailoverSlots = "pg_replication_slots.synced";

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
        new(ArchiveLibrary, RuleKind.Setting, 15, null, "PostgreSQL 15 release notes: archive_library added",
            "An archive module instead of archive_command; -WalArchive refuses to set archive_command while one is set."),
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
        new(PgCtlPromote, RuleKind.Mechanism, 10, null, "PostgreSQL 10 release notes: pg_ctl waits for all operations, promote included",
            "Promotes a standby before 12 (no pg_promote()), run on its host; -w returns once it accepts writes."),
        new(RecoveryTargetTimelineLatest, RuleKind.Mechanism, 12, null, "PostgreSQL 12 release notes: recovery_target_timeline defaults to latest",
            "Written as latest on every major: before 12 the default (current) keeps a standby off a promoted sibling's new timeline."),
        new(PrimaryConninfoReload, RuleKind.Mechanism, 13, null, "PostgreSQL 13 release notes: primary_conninfo can change on reload",
            "A standby can be re-pointed with a reload (before 13: a restart)."),
        new(PgStartBackup, RuleKind.Function, 10, 14, "PostgreSQL 15 release notes: pg_start_backup renamed pg_backup_start",
            "Low-level base backup start for -Method Rsync, non-exclusive (exclusive mode removed in 15)."),
        new(PgBackupStart, RuleKind.Function, 15, null, "PostgreSQL 15 release notes: pg_backup_start/pg_backup_stop",
            "Low-level base backup start for -Method Rsync."),
        new(PgStopBackup, RuleKind.Function, 10, 14, "PostgreSQL 15 release notes: pg_stop_backup renamed pg_backup_stop; PostgreSQL 10: wait_for_archive argument",
            "Ends a non-exclusive backup; returns the backup_label and tablespace_map the copy needs."),
        new(PgBackupStop, RuleKind.Function, 15, null, "PostgreSQL 15 release notes: pg_backup_start/pg_backup_stop",
            "Ends a non-exclusive backup; returns the backup_label and tablespace_map the copy needs."),
        new(WalFunctionNames, RuleKind.Function, 10, null, "PostgreSQL 10 release notes: xlog renamed to wal in function names",
            "pg_current_wal_lsn(), pg_last_wal_replay_lsn(), pg_is_wal_replay_paused(), pg_walfile_name(): why 10 is the oldest major."),
        new(WalReceiverSenderHost, RuleKind.Function, 11, null, "PostgreSQL 11 release notes: sender_host and sender_port added to pg_stat_wal_receiver",
            "Where a standby streams from; before 11 the topology takes it from primary_conninfo."),
        new(SlotWalStatus, RuleKind.Function, 13, null, "PostgreSQL 13 release notes: wal_status and safe_wal_size added to pg_replication_slots",
            "Whether a slot still holds the WAL its standby needs (lost after max_slot_wal_keep_size)."),
        new(PgReadFileMissingOk, RuleKind.Function, 10, null, "PostgreSQL 9.5 release notes: pg_read_file() missing_ok argument",
            "Reads recovery.conf and timeline history files over SQL; a missing file is NULL, not an error."),
        new(PgReadFileAnyPath, RuleKind.Function, 11, null, "PostgreSQL 11 release notes: superusers and pg_read_server_files may read files anywhere",
            "Reads the primary's pg_hba.conf over SQL; before 11 only inside the data directory, so Debian's /etc/postgresql is out of reach."),
        new(PgHbaFileRules, RuleKind.Function, 10, null, "PostgreSQL 10 release notes: pg_hba_file_rules view added",
            "Checks pg_hba.conf as the server would parse it (error column) before a reload."),
        new(PgHbaFileRulesRuleNumber, RuleKind.Function, 16, null, "PostgreSQL 16 release notes: pg_hba_file_rules gains rule_number and file_name (include files)",
            "Rule numbers and the file each rule comes from."),
        new(DataChecksumsByDefault, RuleKind.Mechanism, 18, null, "PostgreSQL 18 release notes: initdb enables data checksums by default",
            "Clusters made by initdb 18 have checksums, so wal_log_hints (for pg_rewind) is left alone."),
        new(RetrieveRetryWaitEvent, RuleKind.Mechanism, 13, null, "PostgreSQL 13: recovery wait events renamed (commit 1d253ba), RecoveryWalStream became RecoveryRetrieveRetryInterval",
            "pg_stat_activity's name for the startup process sleeping out wal_retrieve_retry_interval (RecoveryWalStream before 13): a promotion that finds it there is signalled again."),
        new(BackupManifest, RuleKind.Mechanism, 13, null, "PostgreSQL 13 release notes: pg_basebackup writes a backup manifest, pg_verifybackup added",
            "Invoke-PgBaseBackup checks the copy with pg_verifybackup; the manifest's per-file checksums are made only for -VerifyChecksums (--manifest-checksums=NONE otherwise)."),
        new(SynchronizedStandbySlots, RuleKind.Setting, 17, null, "PostgreSQL 17 release notes: synchronized_standby_slots added",
            "The failover candidates' physical slots (Set-PgMasterConfig -FailoverStandby): a logical WAL sender sends a change only once they confirmed it, so a promoted candidate's synced slot is never behind its subscriber (reload)."),
        new(SyncReplicationSlots, RuleKind.Setting, 17, null, "PostgreSQL 17 release notes: logical slot failover, sync_replication_slots",
            "On a failover candidate (with hot_standby_feedback, primary_slot_name and dbname in primary_conninfo): copies the primary's failover logical slots, so subscribers go on after a promotion; before 17 they are lost (reload)."),
        new(FailoverSlots, RuleKind.Function, 17, null, "PostgreSQL 17 release notes: pg_replication_slots gains failover and synced",
            "Which logical slots follow a failover (failover) and which a standby holds as synced copies (synced): what Test-PgReplication and Invoke-PgPromotion compare."),
        new(RewindRestoreTargetWal, RuleKind.Mechanism, 13, null, "PostgreSQL 13 release notes: pg_rewind --restore-target-wal",
            "pg_rewind fetches WAL gone from the target's pg_wal with its restore_command (Restore-PgStandby, with the cluster's archive); before 13 such a rewind fails."),
        new(RewindConfigFile, RuleKind.Mechanism, 15, null, "PostgreSQL 15 release notes: pg_rewind --config-file",
            "pg_rewind reads restore_command through a postgresql.conf outside the data directory (Debian's /etc/postgresql); before 15 only the data directory's."),
        new(PromoteTriggerFile, RuleKind.Setting, 12, 15, "PostgreSQL 16 release notes: promote_trigger_file removed",
            "A file whose creation promotes a standby (trigger_file in recovery.conf before 12)."),

        // What the daily-work admin role (New-PgAdminRole) is given instead of SUPERUSER.
        new(PgMonitor, RuleKind.Privilege, 10, null, "PostgreSQL 10 release notes: default monitoring role pg_monitor",
            "Reads pg_stat_replication, pg_stat_wal_receiver, pg_stat_activity and superuser-only settings (primary_conninfo, data_directory, hba_file) in full."),
        new(PgReadServerFiles, RuleKind.Privilege, 11, null, "PostgreSQL 11 release notes: pg_read_server_files role",
            "With EXECUTE on pg_read_file(): pg_hba.conf, recovery.conf and timeline history files read over SQL; before 11 only a superuser reads files."),
        new(RewindFunctions, RuleKind.Privilege, 11, null, "PostgreSQL 11 release notes: pg_rewind no longer needs a superuser; file access functions can be granted",
            "EXECUTE on pg_ls_dir, pg_stat_file and pg_read_binary_file: what pg_rewind reads on its source (Restore-PgStandby)."),
        new(PgCheckpoint, RuleKind.Privilege, 15, null, "PostgreSQL 15 release notes: pg_checkpoint role",
            "CHECKPOINT on a new primary before a rewind; before 15 only a superuser may."),
        new(AlterSystemOnParameter, RuleKind.Privilege, 15, null, "PostgreSQL 15 release notes: GRANT SET and ALTER SYSTEM ON PARAMETER",
            "ALTER SYSTEM of the settings Set-PgMasterConfig and Remove-PgStandby write and of recovery_min_apply_delay (Set-PgStandbyDelay); before 15 only a superuser may."),
    };

    /// <summary>The rule named <paramref name="name"/>.</summary>
    public static VersionRule Get(string name) =>
        All.FirstOrDefault(r => r.Name == name) ?? throw new ArgumentException($"No version rule is named '{name}'.", nameof(name));

    /// <summary>True when <paramref name="name"/> exists in <paramref name="major"/>.</summary>
    public static bool Applies(string name, int major) => Get(name).AppliesTo(major);

    /// <summary>The setting that keeps WAL for standbys: wal_keep_size from 13, wal_keep_segments before.</summary>
    public static string WalKeepSetting(int major) => Applies(WalKeepSize, major) ? WalKeepSize : WalKeepSegments;

    /// <summary>
    /// The non-exclusive low-level backup calls (@label is the backup's label): pg_backup_start/pg_backup_stop
    /// from 15, pg_start_backup/pg_stop_backup before. Stop returns lsn, labelfile and spcmapfile in both.
    /// </summary>
    public static BackupCalls BackupFunctions(int major) => Applies(PgBackupStart, major)
        ? new("pg_catalog.pg_backup_start(@label, true)", "pg_catalog.pg_backup_stop(false)")
        : new("pg_catalog.pg_start_backup(@label, true, false)", "pg_catalog.pg_stop_backup(false, false)");

    /// <summary>
    /// A select-list item for a column only some majors have: <paramref name="column"/> where
    /// <paramref name="rule"/> applies, else a NULL of <paramref name="sqlType"/> under the column's name.
    /// </summary>
    public static string ColumnOrNull(string rule, int major, string column, string sqlType) =>
        Applies(rule, major) ? column : $"NULL::{sqlType} AS {column[(column.LastIndexOf('.') + 1)..]}";

    /// <summary>Whether pg_read_file() may read <paramref name="path"/>: any path from 11, before only inside the data directory.</summary>
    public static bool CanReadServerFile(int major, string path, string? dataDirectory) =>
        Applies(PgReadFileAnyPath, major) ||
        dataDirectory is not null && path.StartsWith(dataDirectory.TrimEnd('/') + "/", StringComparison.Ordinal) && !path.Contains("/../", StringComparison.Ordinal);

    /// <summary>The settings Set-PgMasterConfig writes with ALTER SYSTEM on <paramref name="major"/>.</summary>
    public static IEnumerable<string> PrimarySettings(int major) =>
        All.Where(r => r.Kind == RuleKind.Setting && r.AppliesTo(major) && r.Name is not (PasswordEncryption or ArchiveLibrary or PromoteTriggerFile or SyncReplicationSlots))
           .Select(r => r.Name);

    /// <summary>
    /// What the daily-work admin role is granted on <paramref name="major"/>: LOGIN REPLICATION (slots) is its
    /// attribute; these are the rest. Monitoring, file reads where the major lets a role have them, the functions
    /// a promotion and a re-pointing call, CHECKPOINT and ALTER SYSTEM of the primary's settings from 15.
    /// Never pg_authid (password verifiers) and never SUPERUSER.
    /// </summary>
    public static IReadOnlyList<RoleGrant> AdminRoleGrants(int major)
    {
        static RoleGrant Member(string role) =>
            new($"GRANT {role} TO {{0}}", $"pg_catalog.pg_has_role(@role, '{role}', 'MEMBER')", $"member of {role}");
        static RoleGrant Execute(string function) =>
            new($"GRANT EXECUTE ON FUNCTION pg_catalog.{function} TO {{0}}",
                $"pg_catalog.has_function_privilege(@role, 'pg_catalog.{function}', 'EXECUTE')", $"EXECUTE on {function}");
        var grants = new List<RoleGrant> { Member(PgMonitor) };
        // The role lets pg_read_file() read outside the data directory; the function itself still needs EXECUTE.
        if (Applies(PgReadServerFiles, major))
            grants.AddRange(new[] { Member(PgReadServerFiles), Execute("pg_read_file(text)"), Execute("pg_read_file(text, bigint, bigint, boolean)") });
        if (Applies(RewindFunctions, major))
            grants.AddRange(new[] { "pg_ls_dir(text, boolean, boolean)", "pg_stat_file(text, boolean)", "pg_read_binary_file(text)",
                                    "pg_read_binary_file(text, bigint, bigint, boolean)" }.Select(Execute));
        if (Applies(PgCheckpoint, major)) grants.Add(Member(PgCheckpoint));
        grants.Add(Execute("pg_reload_conf()"));
        // Day two: Suspend/Resume-PgStandbyReplay, and Remove-PgReplicationSlot -Force ending a WAL sender (a
        // non-superuser's backend: pg_signal_backend may signal it).
        grants.Add(Execute("pg_wal_replay_pause()"));
        grants.Add(Execute("pg_wal_replay_resume()"));
        grants.Add(Member("pg_signal_backend"));
        if (Applies(PgPromote, major)) grants.Add(Execute("pg_promote(boolean, integer)"));
        // The low-level backup API of -Method Parallel and -Method Rsync (a new copy, Restore-PgStandby -AllowReclone):
        // PostgreSQL lets a superuser grant it; the non-exclusive forms only (the exclusive ones are gone from 15).
        grants.AddRange((Applies(PgBackupStart, major)
            ? new[] { "pg_backup_start(text, boolean)", "pg_backup_stop(boolean)" }
            : new[] { "pg_start_backup(text, boolean, boolean)", "pg_stop_backup(boolean, boolean)" }).Select(Execute));
        grants.Add(Execute("pg_hba_file_rules()"));
        grants.Add(new("GRANT SELECT ON pg_catalog.pg_hba_file_rules TO {0}",
            "pg_catalog.has_table_privilege(@role, 'pg_catalog.pg_hba_file_rules', 'SELECT')", "SELECT on pg_hba_file_rules"));
        if (Applies(AlterSystemOnParameter, major))
            // The primary's settings (Set-PgMasterConfig, Remove-PgStandby's synchronous_standby_names) and a
            // standby's delay (Set-PgStandbyDelay).
            foreach (var setting in PrimarySettings(major).Append("recovery_min_apply_delay"))
                grants.Add(new($"GRANT ALTER SYSTEM ON PARAMETER {setting} TO {{0}}",
                    $"pg_catalog.has_parameter_privilege(@role, '{setting}', 'ALTER SYSTEM')", $"ALTER SYSTEM on {setting}"));
        return grants;
    }

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
