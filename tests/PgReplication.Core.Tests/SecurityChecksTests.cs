using PgReplication.Core.Config;
using PgReplication.Core.Model;
using PgReplication.Core.Operations;

namespace PgReplication.Core.Tests;

/// <summary>The classic setup's security faults (issue 18): what each finding says, and that it never says a secret.</summary>
public sealed class SecurityChecksTests
{
    private const string Secret = "Hand-s3cret";
    private const string AutoConf = "/var/lib/postgresql/15/main/postgresql.auto.conf";

    private static RecoverySecuritySettings Modern(string? conninfo, string? trigger = null, int major = 15) =>
        SecurityChecks.Settings(major, "/var/lib/postgresql/15/main", conninfo, AutoConf, trigger, null);

    [Theory]
    [InlineData("user=replicator password=" + Secret + " host=10.0.0.1 port=5432", true)]
    [InlineData("user=replicator password='a secret with spaces' host=10.0.0.1", true)]
    [InlineData("user=replicator password='' host=10.0.0.1", false)]
    [InlineData("user=replicator passfile='/var/lib/postgresql/.pgpass' host=10.0.0.1 application_name='password=x'", false)]
    [InlineData("postgresql://replicator:" + Secret + "@10.0.0.1:5432/postgres", true)]
    [InlineData("postgres://replicator@10.0.0.1/postgres?password=" + Secret, true)]
    [InlineData("postgresql://replicator@10.0.0.1:5432", false)]
    [InlineData("", false)]
    [InlineData(null, false)]
    public void A_password_is_found_in_either_form_of_primary_conninfo(string? conninfo, bool expected) =>
        Assert.Equal(expected, SecurityChecks.HasPassword(conninfo));

    [Fact]
    public void A_password_in_primary_conninfo_is_named_with_its_file_and_the_fix_never_with_the_secret()
    {
        var finding = SecurityChecks.PasswordInConninfo("db2", true, "db1", 15,
            Modern($"user=replicator password={Secret} host=10.0.0.1 port=5432 sslmode=prefer"))!;
        Assert.Equal(SecurityFindingKind.PasswordInConninfo, finding.Kind);
        Assert.Equal("db2", finding.Host);
        Assert.Equal(
            $"db2: primary_conninfo (user=replicator host=10.0.0.1 port=5432) in {AutoConf} holds a password in plain text. " +
            "Fix: Enable-PgHotStandby db2 -Primary db1 moves it to the passfile (mode 0600), leaves primary_conninfo with passfile= and no password, " +
            "and reloads the standby.", finding.Message);
        Assert.DoesNotContain(Secret, finding.Message);
    }

    [Fact]
    public void Before_13_the_fix_restarts_the_standby_and_before_12_the_password_is_found_in_recovery_conf()
    {
        var twelve = SecurityChecks.PasswordInConninfo("db2", true, "db1", 12, Modern($"user=r password={Secret} host=db1", major: 12))!;
        Assert.Contains("restarts the standby (PostgreSQL 12 reads primary_conninfo only at start)", twelve.Fix);

        var recoveryConf = $"standby_mode = 'on'\nprimary_conninfo = 'user=replicator password={Secret} host=10.0.0.1 port=5432'\ntrigger_file = '/tmp/promote'\n";
        // From 12 recovery.conf means nothing; before 12 pg_settings has no primary_conninfo.
        var eleven = SecurityChecks.Settings(11, "/var/lib/postgresql/11/main", "ignored", null, "/tmp/ignored", recoveryConf);
        Assert.Equal("/var/lib/postgresql/11/main/recovery.conf", eleven.ConninfoSource);
        Assert.Equal("trigger_file", eleven.TriggerSetting);
        var finding = SecurityChecks.PasswordInConninfo("db2", true, "db1", 11, eleven)!;
        Assert.Contains("in /var/lib/postgresql/11/main/recovery.conf holds a password", finding.Message);
        Assert.DoesNotContain(Secret, finding.Message);
        Assert.Contains("restarts the standby", finding.Fix);
    }

    [Fact]
    public void No_password_no_finding_and_a_primary_is_told_to_drop_the_setting()
    {
        Assert.Null(SecurityChecks.PasswordInConninfo("db2", true, "db1", 15, Modern("user=replicator passfile=/var/lib/postgresql/.pgpass host=db1")));
        Assert.Null(SecurityChecks.PasswordInConninfo("db2", true, "db1", 15, Modern(null)));
        var primary = SecurityChecks.PasswordInConninfo("db1", false, null, 15, Modern($"user=r password={Secret} host=db2"))!;
        Assert.Contains("ALTER SYSTEM RESET primary_conninfo on db1", primary.Fix);
    }

    [Fact]
    public void A_trigger_file_in_a_shared_directory_is_reported_where_the_major_has_one()
    {
        var finding = SecurityChecks.TriggerFile("db2", "db1", 15, Modern(null, "/tmp/promote_db2"))!;
        Assert.Equal(
            "db2: promote_trigger_file '/tmp/promote_db2' is in /tmp, which every local user can write to: anyone on the host can promote this standby " +
            "(a split brain). Fix: Enable-PgHotStandby db2 -Primary db1 removes the setting (the module promotes with pg_promote()).", finding.Message);
        // 16 has no promote_trigger_file: whatever a row says is not read.
        Assert.Null(SecurityChecks.TriggerFile("db2", "db1", 16, Modern(null, "/tmp/promote_db2", major: 16)));
        // Relative (inside the data directory) or in a directory of the server's own: fine.
        Assert.Null(SecurityChecks.TriggerFile("db2", "db1", 15, Modern(null, "promote")));
        Assert.Null(SecurityChecks.TriggerFile("db2", "db1", 15, Modern(null, "/var/lib/postgresql/promote")));
        // What the host says of the directory wins over the list.
        Assert.NotNull(SecurityChecks.TriggerFile("db2", "db1", 15, Modern(null, "/srv/shared/promote"), directoryWorldWritable: true));
        Assert.Null(SecurityChecks.TriggerFile("db2", "db1", 15, Modern(null, "/tmp/promote"), directoryWorldWritable: false));
        var eleven = SecurityChecks.Settings(11, "/data", null, null, null, "trigger_file = '/var/tmp/go'\n");
        Assert.Contains("trigger_file '/var/tmp/go' in /data/recovery.conf is in /var/tmp", SecurityChecks.TriggerFile("db2", "db1", 11, eleven)!.Message);
        Assert.Contains("pg_ctl promote", SecurityChecks.TriggerFile("db2", "db1", 11, eleven)!.Fix);
    }

    private static HbaRuleRow Rule(string method, string database = "replication", string user = "replicator", string type = "host",
        string? address = "10.0.0.2", string? netmask = "255.255.255.255", int line = 98, string? file = null) =>
        new(line, file, type, database, user, address, netmask, method);

    [Fact]
    public void Trust_md5_and_password_replication_lines_are_reported_with_Set_PgMasterConfig_as_the_fix()
    {
        const string hba = "/etc/postgresql/15/main/pg_hba.conf";
        var findings = SecurityChecks.WeakReplicationLines("db1", hba, new[]
        {
            Rule("md5"), Rule("trust", address: "10.0.0.3", netmask: "255.255.255.255", line: 99), Rule("password", line: 100),
            Rule("scram-sha-256", line: 101), Rule("md5", database: "all", line: 102), Rule("trust", type: "local", address: null, netmask: null, line: 103),
        }).ToList();
        Assert.Equal(new[] { 98, 99, 100 }, findings.Select(f => int.Parse(f.Subject.Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture)));
        Assert.Equal(
            $"db1: line 98 of {hba} (host replication replicator 10.0.0.2 255.255.255.255 md5) admits replication connections with md5, " +
            "a password hash weaker than SCRAM. Fix: Set-PgMasterConfig db1 turns it into a scram-sha-256 line for the same addresses and role.",
            findings[0].Message);
        Assert.Contains("trust: no password at all", findings[1].Problem);
        Assert.Contains("clear text", findings[2].Problem);
    }

    [Fact]
    public void A_line_Set_PgMasterConfig_leaves_alone_is_named_with_a_fix_by_hand()
    {
        var mixed = Assert.Single(SecurityChecks.WeakReplicationLines("db1", "/data/pg_hba.conf", new[] { Rule("md5", database: "replication,postgres") }));
        Assert.Contains("by hand", mixed.Fix);
        var included = Assert.Single(SecurityChecks.WeakReplicationLines("db1", "/data/pg_hba.conf", new[] { Rule("md5", file: "/data/replication.conf") }));
        Assert.Contains("by hand in /data/replication.conf", included.Fix);
    }

    [Fact]
    public void The_weak_lines_query_reads_file_name_only_where_the_view_has_it()
    {
        Assert.Contains("h.file_name", SecurityChecks.WeakReplicationLinesQuery(16));
        Assert.Contains("NULL::text AS file_name", SecurityChecks.WeakReplicationLinesQuery(15));
        Assert.Contains("NULL::text AS file_name", SecurityChecks.WeakReplicationLinesQuery(10));
    }

    [Fact]
    public void A_superuser_replication_role_is_reported_once_with_who_uses_it_and_the_fix_fits_the_role()
    {
        var superusers = new Dictionary<string, bool> { ["postgres"] = true, ["replicator"] = false };
        var findings = SecurityChecks.SuperuserRoles("db1", superusers, "postgres",
            new[] { ("replicator", "db3"), ("replicator", "db2"), ("replicator", "db2"), ("plain", "db4") }).ToList();
        var finding = Assert.Single(findings);
        Assert.Equal(
            "db1: the replication role 'replicator' (used by db2, db3) is a superuser: its password, kept on every standby, opens the whole server. " +
            "Fix: New-PgReplicationUser db1 -Credential replicator -Force (with its current password) drops SUPERUSER and keeps LOGIN REPLICATION.",
            finding.Message);

        var bootstrap = Assert.Single(SecurityChecks.SuperuserRoles("db1", superusers, "admin", new[] { ("postgres", "db2") }));
        Assert.Contains("'postgres' is the bootstrap superuser and stays one", bootstrap.Fix);
        Assert.Contains("New-PgReplicationUser db1 -Credential <a new role>", bootstrap.Fix);
        var admin = Assert.Single(SecurityChecks.SuperuserRoles("db1", new Dictionary<string, bool> { ["dba"] = false }, "dba", new[] { ("dba", "db2") }));
        Assert.Contains("is the admin role the module connects as", admin.Fix);
    }

    [Fact]
    public void A_passfile_with_group_or_other_access_and_a_config_file_others_can_reach_are_reported()
    {
        Assert.Null(SecurityChecks.ReadableByOthers("db2", "the passfile", "/home/pg/.pgpass", Convert.ToInt32("600", 8), true, true, "fix"));
        var passfile = SecurityChecks.ReadableByOthers("db2", "the passfile", "/home/pg/.pgpass", Convert.ToInt32("640", 8), false, true, "fix")!;
        Assert.Equal("db2: the passfile /home/pg/.pgpass (mode 0640) gives its group or other users access to the passwords in it, " +
                     "and libpq ignores such a passfile. Fix: fix.", passfile.Message);

        var modes = SecurityChecks.ParseModes("755 /\n755 /etc\n755 /etc/postgresql\n700 /var/lib/postgresql/15/main\n644 /etc/postgresql/pg_hba.conf\nbad line\n");
        Assert.Equal(Convert.ToInt32("644", 8), modes["/etc/postgresql/pg_hba.conf"]);
        Assert.True(SecurityChecks.ReachableByOthers("/etc/postgresql/pg_hba.conf", modes));
        Assert.False(SecurityChecks.ReachableByOthers("/var/lib/postgresql/15/main/postgresql.auto.conf", modes));
        Assert.NotNull(SecurityChecks.ReadableByOthers("db1", "the access rules", "/etc/postgresql/pg_hba.conf", Convert.ToInt32("644", 8), true, false, "chmod"));
        // Other-readable, but inside a 0700 data directory: nobody else gets there.
        Assert.Null(SecurityChecks.ReadableByOthers("db1", "the settings file", "/d/postgresql.auto.conf", Convert.ToInt32("644", 8), false, false, "chmod"));
        Assert.Null(SecurityChecks.ReadableByOthers("db1", "the access rules", "/etc/postgresql/pg_hba.conf", Convert.ToInt32("640", 8), true, false, "chmod"));
        Assert.Equal(new[] { "/", "/etc", "/etc/postgresql" }, SecurityChecks.Ancestors("/etc/postgresql/pg_hba.conf"));
    }

    [Fact]
    public void The_user_of_a_connection_string_is_read_from_either_form()
    {
        Assert.Equal("replicator", SecurityChecks.UserOf("host=db1 user=replicator password=x"));
        Assert.Equal("replicator", SecurityChecks.UserOf("postgresql://replicator:x@db1/postgres"));
        Assert.Null(SecurityChecks.UserOf("host=db1"));
        Assert.Equal("/var/lib/postgresql/.pgpass", SecurityChecks.PassfileOf("host=db1 passfile='/var/lib/postgresql/.pgpass'"));
    }
}

/// <summary>Set-PgMasterConfig's conversion of weak replication lines: the method changes, nothing else.</summary>
public sealed class HbaScramTests
{
    private const string Hand = """
        # TYPE  DATABASE        USER            ADDRESS                 METHOD
        local   replication     all                                     trust
        host    replication     all             127.0.0.1/32            scram-sha-256
        host    replication     replicator      10.0.0.2/32             md5   # db2, added by hand
        hostssl replication     replicator      10.0.0.3  255.255.255.255  password
        host    replication,postgres replicator 10.0.0.4/32             md5
        host    replication     "repl user"     10.0.0.5/32             trust clientcert=verify-ca
        host    all             all             10.0.0.0/8              md5

        """;

    [Fact]
    public void Only_weak_tcp_lines_for_replication_alone_are_converted_keeping_everything_but_the_method()
    {
        var weak = HbaFile.Parse(Hand).Where(HbaEditor.IsWeakReplicationLine).Select(l => l.LineNumber).ToList();
        Assert.Equal(new[] { 4, 5, 7 }, weak);

        var edit = HbaEditor.ReplicationLinesToScram(Hand, _ => true);
        Assert.Equal(new[]
        {
            "host    replication     replicator      10.0.0.2/32             scram-sha-256   # db2, added by hand",
            "hostssl replication     replicator      10.0.0.3  255.255.255.255  scram-sha-256",
            "host    replication     \"repl user\"     10.0.0.5/32             scram-sha-256 clientcert=verify-ca",
        }, edit.AddedLines);
        Assert.Equal(3, edit.RemovedLines.Count);
        var after = HbaFile.Parse(edit.NewText);
        Assert.Equal(HbaFile.Parse(Hand).Count, after.Count);
        Assert.Empty(after.Where(HbaEditor.IsWeakReplicationLine));
        Assert.Equal("trust", after[1].Method); // local: not a network line
        Assert.Equal("md5", after[5].Method); // also serves postgres: left to the admin
        Assert.Equal("md5", after[7].Method); // not replication
        Assert.Empty(HbaFile.Check(edit.NewText));
    }

    [Fact]
    public void Only_the_lines_picked_change_a_CRLF_file_stays_CRLF_and_nothing_picked_is_no_change()
    {
        var crlf = Hand.Replace("\n", "\r\n");
        var edit = HbaEditor.ReplicationLinesToScram(crlf, l => l.LineNumber == 4);
        Assert.Single(edit.AddedLines);
        Assert.Contains("10.0.0.2/32             scram-sha-256   # db2", edit.NewText);
        Assert.Contains("\r\nhostssl replication     replicator      10.0.0.3  255.255.255.255  password\r\n", edit.NewText);
        Assert.False(HbaEditor.ReplicationLinesToScram(Hand, _ => false).Changed);
        Assert.Equal(Hand, HbaEditor.ReplicationLinesToScram(Hand, _ => false).NewText);
    }

    [Fact]
    public void The_roles_a_line_admits_are_the_one_it_names_or_every_replication_role()
    {
        var roles = new[] { "postgres", "replicator", "repl user" };
        var lines = HbaFile.Parse(Hand);
        Assert.Equal(new[] { "replicator" }, HbaEditor.RolesAdmitted(lines[3], roles));
        Assert.Equal(new[] { "repl user" }, HbaEditor.RolesAdmitted(lines[6], roles));
        Assert.Equal(roles, HbaEditor.RolesAdmitted(lines[2], roles));
        Assert.Equal(roles, HbaEditor.RolesAdmitted(HbaFile.Parse("host replication +replicators 10.0.0.0/8 md5\n")[0], roles));
    }
}
