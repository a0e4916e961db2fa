using System.Globalization;
using System.Text.RegularExpressions;
using PgReplication.Core.Config;
using PgReplication.Core.Hosts;
using PgReplication.Core.Model;
using PgReplication.Core.Sql;
using PgReplication.Core.Versions;

namespace PgReplication.Core.Operations;

/// <summary>A rule of pg_hba_file_rules that admits replication with a weak method (what <see cref="SecurityChecks.WeakReplicationLinesQuery"/> returns).</summary>
public sealed record HbaRuleRow(int LineNumber, string? FileName, string Type, string Database, string User, string? Address, string? Netmask, string Method)
{
    /// <summary>The rule as pg_hba.conf would have it: "host replication replicator 10.0.0.2/32 md5".</summary>
    public string Text => string.Join(' ', new[] { Type, Database, User, Address, Netmask, Method }.Where(f => !string.IsNullOrEmpty(f)));

    internal static HbaRuleRow From(SqlRow r) => new(
        Convert.ToInt32(r["line_number"], CultureInfo.InvariantCulture), r.Text("file_name"), r.Text("type") ?? "", r.Text("database") ?? "",
        r.Text("user_name") ?? "", r.Text("address"), r.Text("netmask"), r.Text("auth_method") ?? "");
}

/// <summary>
/// What a node's recovery settings say, as far as security goes: primary_conninfo (never shown: it may hold a
/// password), the file it comes from, and the promote trigger file with the name of its setting.
/// </summary>
public sealed record RecoverySecuritySettings(string? PrimaryConninfo, string? ConninfoSource, string? TriggerFile, string TriggerSetting)
{
    public static readonly RecoverySecuritySettings None = new(null, null, null, VersionRules.PromoteTriggerFile);
}

/// <summary>
/// The classic setup's security faults (issue 18), found from what the servers say (and, for file modes, what the host
/// says), each named with the command that fixes it. The reads are statements the health check and the acceptance kit
/// put into their own round trips; the decisions are pure functions.
/// </summary>
public static class SecurityChecks
{
    /// <summary>The superuser roles (pg_roles: no privilege needed); bootstrap is the role initdb made (OID 10), which cannot stop being one.</summary>
    public const string SuperusersQuery =
        "SELECT r.rolname::text AS role, r.oid = 10 AS bootstrap FROM pg_catalog.pg_roles r WHERE r.rolsuper ORDER BY 1";

    /// <summary>
    /// A node's recovery settings from pg_settings (12 and later; NULL before, where they live in recovery.conf), as a
    /// one-row relation for a FROM list (one scan of pg_settings): primary_conninfo_setting, primary_conninfo_file,
    /// promote_trigger_file. A row the role may not see (primary_conninfo is superuser-only) and a sourcefile it may not
    /// read are NULL, never an error, so the relation rides in the health check's statement.
    /// </summary>
    public const string SettingsRelation = """
        (SELECT pg_catalog.max(s.setting) FILTER (WHERE s.name = 'primary_conninfo') AS primary_conninfo_setting,
                pg_catalog.max(s.sourcefile) FILTER (WHERE s.name = 'primary_conninfo') AS primary_conninfo_file,
                pg_catalog.max(s.setting) FILTER (WHERE s.name = 'promote_trigger_file') AS promote_trigger_file
         FROM pg_catalog.pg_settings s WHERE s.name IN ('primary_conninfo', 'promote_trigger_file')) AS recovery_settings
        """;

    /// <summary>The columns of <see cref="SettingsRelation"/>, for a select list.</summary>
    public const string SettingsColumns =
        "recovery_settings.primary_conninfo_setting, recovery_settings.primary_conninfo_file, recovery_settings.promote_trigger_file";

    /// <summary>recovery.conf over SQL (before 12): superuser, or pg_read_server_files from 11; NULL when there is none.</summary>
    public const string RecoveryConfQuery = "SELECT pg_catalog.pg_read_file('recovery.conf', 0, 1048576, true) AS recovery_conf";

    /// <summary>
    /// TCP rules of pg_hba_file_rules (10 and later; superuser) that admit replication with trust, md5 or password, with
    /// the file each comes from (16 and later, where include files exist).
    /// </summary>
    public static string WeakReplicationLinesQuery(int major) => $"""
        SELECT h.line_number, {VersionRules.ColumnOrNull(VersionRules.PgHbaFileRulesRuleNumber, major, "h.file_name", "text")}, h.type,
               pg_catalog.array_to_string(h.database, ',') AS database, pg_catalog.array_to_string(h.user_name, ',') AS user_name,
               h.address, h.netmask, h.auth_method
        FROM pg_catalog.pg_hba_file_rules h
        WHERE h.error IS NULL AND h.type <> 'local' AND h.auth_method IN ('trust', 'md5', 'password') AND 'replication' = ANY (h.database)
        ORDER BY h.line_number
        """;

    /// <summary>Directories every local user may create files in: a trigger file there is anyone's to create.</summary>
    private static readonly string[] SharedDirectories = { "/tmp", "/var/tmp", "/dev/shm", "/run/shm" };

    /// <summary>The recovery settings: from pg_settings from 12, from recovery.conf's text before.</summary>
    public static RecoverySecuritySettings Settings(int major, string? dataDirectory, string? conninfoSetting, string? conninfoFile,
        string? promoteTriggerFile, string? recoveryConf)
    {
        if (StandbyConfigRules.UsesStandbySignal(major))
            return new RecoverySecuritySettings(NullIfEmpty(conninfoSetting), NullIfEmpty(conninfoFile),
                VersionRules.Applies(VersionRules.PromoteTriggerFile, major) ? NullIfEmpty(promoteTriggerFile) : null, VersionRules.PromoteTriggerFile);
        var settings = recoveryConf is null ? null : OfflineSettings.Read(recoveryConf);
        return new RecoverySecuritySettings(NullIfEmpty(settings?.GetValueOrDefault("primary_conninfo")),
            dataDirectory is null ? VersionRules.RecoveryConf : RemotePath.Join(dataDirectory, VersionRules.RecoveryConf),
            NullIfEmpty(settings?.GetValueOrDefault("trigger_file")), "trigger_file");
    }

    /// <summary>The settings from a row with the <see cref="SettingsColumns"/>, and recovery.conf's text (before 12).</summary>
    public static RecoverySecuritySettings Settings(int major, string? dataDirectory, SqlRow? row, string? recoveryConf) =>
        Settings(major, dataDirectory, row?.Text("primary_conninfo_setting"), row?.Text("primary_conninfo_file"), row?.Text("promote_trigger_file"), recoveryConf);

    /// <summary>True when a libpq connection string (keyword form or URI) carries a non-empty password.</summary>
    public static bool HasPassword(string? conninfo)
    {
        if (string.IsNullOrWhiteSpace(conninfo)) return false;
        var text = conninfo.Trim();
        if (Uri(text) is { } uri) return uri.Password;
        try { return Conninfo.Parse(text).GetValueOrDefault("password") is { Length: > 0 }; }
        // A value we cannot parse: the server could, so a password= in it counts.
        catch (FormatException) { return Regex.IsMatch(text, @"(^|\s)password\s*=\s*[^\s']"); }
    }

    /// <summary>The role a connection string logs in as (null: the OS user's name).</summary>
    public static string? UserOf(string? conninfo)
    {
        if (string.IsNullOrWhiteSpace(conninfo)) return null;
        var text = conninfo.Trim();
        if (Uri(text) is { } uri) return uri.User;
        try { return Conninfo.Parse(text).GetValueOrDefault("user") is { Length: > 0 } user ? user : null; }
        catch (FormatException) { return Conninfo.DisplayedValue(text, "user"); }
    }

    /// <summary>What a connection string names, without its secret: "user=replicator host=10.0.0.1 port=5432".</summary>
    public static string Describe(string conninfo)
    {
        var text = conninfo.Trim();
        if (Uri(text) is { } uri) return $"a URI for user {uri.User ?? "?"} at {uri.Host}";
        try
        {
            var values = Conninfo.Parse(text);
            return string.Join(' ', new[] { "user", "host", "hostaddr", "port" }.Where(values.ContainsKey).Select(k => $"{k}={values[k]}"));
        }
        catch (FormatException) { return "a connection string"; }
    }

    private sealed record UriParts(string? User, bool Password, string Host);

    // postgresql://user:secret@host:port/db?password=...: the password is in the user info or in the query.
    private static UriParts? Uri(string text)
    {
        var scheme = text.StartsWith("postgresql://", StringComparison.Ordinal) ? "postgresql://" : text.StartsWith("postgres://", StringComparison.Ordinal) ? "postgres://" : null;
        if (scheme is null) return null;
        var rest = text[scheme.Length..];
        var q = rest.IndexOf('?');
        var query = q >= 0 ? rest[(q + 1)..] : "";
        var authority = q >= 0 ? rest[..q] : rest;
        if (authority.IndexOf('/') is var slash and >= 0) authority = authority[..slash];
        var at = authority.LastIndexOf('@');
        var userInfo = at >= 0 ? authority[..at] : "";
        var colon = userInfo.IndexOf(':');
        var user = colon >= 0 ? userInfo[..colon] : userInfo;
        var inUserInfo = colon >= 0 && colon < userInfo.Length - 1;
        var inQuery = query.Split('&').Any(p => p.StartsWith("password=", StringComparison.Ordinal) && p.Length > "password=".Length);
        return new UriParts(user.Length > 0 ? System.Uri.UnescapeDataString(user) : null, inUserInfo || inQuery, at >= 0 ? authority[(at + 1)..] : authority);
    }

    /// <summary>
    /// A password in primary_conninfo. On a standby, Enable-PgHotStandby moves it to the passfile (a reload from 13, a
    /// restart before); on a primary the setting serves nothing and is removed.
    /// </summary>
    public static SecurityFinding? PasswordInConninfo(string node, bool inRecovery, string? primary, int major, RecoverySecuritySettings settings)
    {
        if (!HasPassword(settings.PrimaryConninfo)) return null;
        var where = settings.ConninfoSource is { } file ? $" in {file}" : "";
        var subject = $"primary_conninfo ({Describe(settings.PrimaryConninfo!)}){where}";
        string fix;
        if (inRecovery)
        {
            var apply = StandbyConfigRules.ReloadsPrimaryConninfo(major)
                ? "reloads the standby"
                : $"restarts the standby (PostgreSQL {major} reads primary_conninfo only at start)";
            fix = $"Enable-PgHotStandby {node} -Primary {primary ?? "<its primary>"} moves it to the passfile (mode 0600), " +
                  $"leaves primary_conninfo with passfile= and no password, and {apply}";
        }
        else
        {
            fix = StandbyConfigRules.UsesStandbySignal(major)
                ? $"a primary streams from no one: ALTER SYSTEM RESET primary_conninfo on {node} (or remove it from {settings.ConninfoSource ?? "the file that sets it"}), then reload"
                : $"a primary streams from no one: remove the file{where}";
        }
        return new SecurityFinding(node, SecurityFindingKind.PasswordInConninfo, subject, "holds a password in plain text", fix);
    }

    /// <summary>
    /// Rules that admit replication with trust, md5 or password. Set-PgMasterConfig turns each one that names only the
    /// replication database, in the main pg_hba.conf, into a scram-sha-256 line for the same addresses and role.
    /// </summary>
    public static IEnumerable<SecurityFinding> WeakReplicationLines(string primary, string? hbaFile, IEnumerable<HbaRuleRow> rules)
    {
        foreach (var rule in rules)
        {
            if (!HbaEditor.WeakMethods.Contains(rule.Method) || rule.Type == "local" || !rule.Database.Split(',').Contains("replication")) continue;
            var file = rule.FileName ?? hbaFile ?? "pg_hba.conf";
            var problem = rule.Method switch
            {
                "trust" => "admits replication connections with trust: no password at all",
                "md5" => "admits replication connections with md5, a password hash weaker than SCRAM",
                _ => "admits replication connections with password: the password crosses the network in clear text",
            };
            var fix = rule.Database != "replication"
                ? $"make it scram-sha-256 by hand (it serves {rule.Database}, more than replication, so Set-PgMasterConfig leaves it), then reload {primary}"
                : hbaFile is not null && file != hbaFile
                    ? $"make it scram-sha-256 by hand in {file} (Set-PgMasterConfig edits {hbaFile} only), then reload {primary}"
                    : $"Set-PgMasterConfig {primary} turns it into a scram-sha-256 line for the same addresses and role";
            yield return new SecurityFinding(primary, SecurityFindingKind.WeakReplicationLine, $"line {rule.LineNumber} of {file} ({rule.Text})", problem, fix);
        }
    }

    /// <summary>
    /// A replication role that is a superuser. New-PgReplicationUser -Force drops SUPERUSER; the bootstrap superuser and
    /// the admin role the module connects as cannot lose it, so standbys move to a new role instead.
    /// </summary>
    public static SecurityFinding SuperuserRole(string primary, string role, bool bootstrap, string? adminRole, IReadOnlyCollection<string> usedBy)
    {
        var by = usedBy.Count > 0 ? $" (used by {string.Join(", ", usedBy)})" : "";
        var subject = $"the replication role '{role}'{by}";
        const string problem = "is a superuser: its password, kept on every standby, opens the whole server";
        var fix = bootstrap || role == (adminRole ?? "postgres")
            ? $"'{role}' {(bootstrap ? "is the bootstrap superuser" : "is the admin role the module connects as")} and stays one: " +
              $"New-PgReplicationUser {primary} -Credential <a new role> makes a replication role that is not, " +
              $"Set-PgMasterConfig {primary} -ReplicationUser <it> -Standby <the standbys> admits it, " +
              $"and Enable-PgHotStandby <each standby> -Primary {primary} -Credential <it> moves each standby to it"
            : $"New-PgReplicationUser {primary} -Credential {role} -Force (with its current password) drops SUPERUSER and keeps LOGIN REPLICATION";
        return new SecurityFinding(primary, SecurityFindingKind.SuperuserReplicationRole, subject, problem, fix);
    }

    /// <summary>The superuser replication roles among those standbys log in as: role -> who uses it.</summary>
    public static IEnumerable<SecurityFinding> SuperuserRoles(string primary, IReadOnlyDictionary<string, bool> superusers, string? adminRole,
        IEnumerable<(string Role, string UsedBy)> logins) =>
        logins.Where(l => superusers.ContainsKey(l.Role))
            .GroupBy(l => l.Role, StringComparer.Ordinal)
            .Select(g => SuperuserRole(primary, g.Key, superusers[g.Key], adminRole, g.Select(l => l.UsedBy).Distinct().Order(StringComparer.Ordinal).ToList()));

    /// <summary>
    /// A promote trigger file (promote_trigger_file 12-15, trigger_file in recovery.conf before; 16 has neither) in a
    /// directory anyone can write to: any local user can promote the standby. <paramref name="directoryWorldWritable"/>
    /// is what the host said (its mode); null when no shell was asked, and then the well-known shared directories count.
    /// </summary>
    public static SecurityFinding? TriggerFile(string standby, string? primary, int major, RecoverySecuritySettings settings, bool? directoryWorldWritable = null)
    {
        if (TriggerDirectory(settings.TriggerFile) is not { } directory) return null;
        if (!(directoryWorldWritable ?? IsSharedDirectory(directory))) return null;
        var promotesWith = VersionRules.Applies(VersionRules.PgPromote, major) ? "pg_promote()" : "pg_ctl promote";
        return new SecurityFinding(standby, SecurityFindingKind.TriggerFileInSharedDirectory,
            $"{settings.TriggerSetting} '{settings.TriggerFile}'" + (settings.TriggerSetting == "trigger_file" && settings.ConninfoSource is { } file ? $" in {file}" : ""),
            $"is in {directory}, which every local user can write to: anyone on the host can promote this standby (a split brain)",
            $"Enable-PgHotStandby {standby} -Primary {primary ?? "<its primary>"} removes the setting (the module promotes with {promotesWith})");
    }

    /// <summary>The directory of an absolute trigger file; null for none, or a relative one (inside the data directory).</summary>
    public static string? TriggerDirectory(string? triggerFile)
    {
        if (string.IsNullOrWhiteSpace(triggerFile) || !triggerFile.StartsWith('/')) return null;
        var directory = RemotePath.Parent(triggerFile.TrimEnd('/'));
        return string.IsNullOrEmpty(directory) ? "/" : directory;
    }

    /// <summary>/tmp, /var/tmp, /dev/shm: where every local user may create files.</summary>
    public static bool IsSharedDirectory(string directory) =>
        SharedDirectories.Contains(directory.Length > 1 ? directory.TrimEnd('/') : directory, StringComparer.Ordinal);

    /// <summary>
    /// A file other OS users can read. A passfile by libpq's rule (any group or other bit: libpq then ignores it); another
    /// file when its other-read bit is set and every directory above it lets others through.
    /// </summary>
    public static SecurityFinding? ReadableByOthers(string host, string what, string path, int mode, bool reachable, bool passfile, string fix)
    {
        var octal = "0" + Convert.ToString(mode & 0x1FF, 8).PadLeft(3, '0');
        if (passfile)
        {
            if ((mode & 0x3F) == 0) return null; // 077
            return new SecurityFinding(host, SecurityFindingKind.ReadableByOthers, $"{what} {path} (mode {octal})",
                "gives its group or other users access to the passwords in it, and libpq ignores such a passfile", fix);
        }
        if ((mode & 0x4) == 0 || !reachable) return null; // o+r
        return new SecurityFinding(host, SecurityFindingKind.ReadableByOthers, $"{what} {path} (mode {octal})",
            "can be read by every user of the host", fix);
    }

    /// <summary>"644 /etc/x" lines of stat -c '%a %n' into path -> mode.</summary>
    public static Dictionary<string, int> ParseModes(string statOutput)
    {
        var modes = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var line in statOutput.Split('\n'))
        {
            var space = line.IndexOf(' ');
            if (space <= 0) continue;
            try { modes[line[(space + 1)..]] = Convert.ToInt32(line[..space], 8); }
            catch (FormatException) { }
        }
        return modes;
    }

    /// <summary>The directories above an absolute path, from "/" down.</summary>
    public static IEnumerable<string> Ancestors(string path)
    {
        yield return "/";
        var parts = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        for (var i = 1; i < parts.Length; i++) yield return "/" + string.Join('/', parts.Take(i));
    }

    /// <summary>True when every directory above <paramref name="path"/> lets other users through (o+x), as far as <paramref name="modes"/> says.</summary>
    public static bool ReachableByOthers(string path, IReadOnlyDictionary<string, int> modes) =>
        Ancestors(path).All(d => !modes.TryGetValue(d, out var m) || (m & 0x1) != 0);

    /// <summary>
    /// The kit's look at one node's files through its host's shell: the configuration files that can hold a password or
    /// the access rules (postgresql.auto.conf, recovery.conf, pg_hba.conf; not postgresql.conf, which Debian ships
    /// world-readable and which holds neither by convention), the passfiles, and the trigger file's directory (its real
    /// mode). One stat command for all of them and the directories above.
    /// </summary>
    public static (IReadOnlyList<SecurityFinding> Findings, bool? TriggerDirectoryWorldWritable) ReadFiles(PgNode node, IHostShell shell,
        RecoverySecuritySettings settings, string? primary)
    {
        var standbyFix = node.IsInRecovery == true ? $"Enable-PgHotStandby {node.Name} -Primary {primary ?? "<its primary>"} writes it again with mode 0600" : null;
        var files = new List<(string What, string Path, bool Passfile, string Fix)>();
        if (node.DataDirectory is { } data && node.MajorVersion is { } major)
        {
            // Enable-PgHotStandby writes a standby's recovery settings file (postgresql.auto.conf from 12, recovery.conf before).
            var autoConf = RemotePath.Join(data, "postgresql.auto.conf");
            files.Add(("the settings file", autoConf, false, StandbyConfigRules.UsesStandbySignal(major) ? standbyFix ?? Chmod(autoConf, node.OsUser) : Chmod(autoConf, node.OsUser)));
            if (!StandbyConfigRules.UsesStandbySignal(major))
            {
                var recoveryConf = RemotePath.Join(data, VersionRules.RecoveryConf);
                files.Add(("the recovery settings", recoveryConf, false, standbyFix ?? Chmod(recoveryConf, node.OsUser)));
            }
        }
        if (node.HbaFile is { } hba) files.Add(("the access rules", hba, false, Chmod(hba, node.OsUser, "o-rwx")));
        var home = HostFiles.HomeOf(shell, node.OsUser);
        var passfiles = new List<string> { RemotePath.Join(home, ".pgpass") };
        if (settings.PrimaryConninfo is { } conninfo && PassfileOf(conninfo) is { } named && named.StartsWith('/') && !passfiles.Contains(named)) passfiles.Add(named);
        foreach (var p in passfiles) files.Add(("the passfile", p, true, standbyFix ?? Chmod(p, node.OsUser)));
        var triggerDirectory = TriggerDirectory(settings.TriggerFile);

        var paths = files.Select(f => f.Path).SelectMany(p => Ancestors(p).Append(p)).Append(triggerDirectory).OfType<string>().Distinct().ToList();
        var stat = shell.Run(new HostCommand("sh", new[] { "-c", "for f; do [ -e \"$f\" ] && stat -L -c '%a %n' -- \"$f\"; done; exit 0", "sh" }.Concat(paths).ToArray())
        { RunAs = node.OsUser, Timeout = TimeSpan.FromSeconds(30) }).EnsureSuccess();
        var modes = ParseModes(stat.StandardOutput);

        var findings = new List<SecurityFinding>();
        foreach (var (what, path, passfile, fix) in files)
            if (modes.TryGetValue(path, out var mode) && ReadableByOthers(node.Name, what, path, mode, ReachableByOthers(path, modes), passfile, fix) is { } finding)
                findings.Add(finding);
        bool? worldWritable = triggerDirectory is not null && modes.TryGetValue(triggerDirectory, out var dirMode) ? (dirMode & 0x2) != 0 : null;
        return (findings, worldWritable);
    }

    private static string Chmod(string path, string owner, string mode = "0600") => $"chmod {mode} {path} (as {owner} or root)";

    /// <summary>The passfile= of a keyword connection string, if any.</summary>
    public static string? PassfileOf(string conninfo)
    {
        try { return Conninfo.Parse(conninfo.Trim()).GetValueOrDefault("passfile") is { Length: > 0 } p ? p : null; }
        catch (FormatException) { return null; }
    }

    private static string? NullIfEmpty(string? s) => string.IsNullOrEmpty(s) ? null : s;
}
