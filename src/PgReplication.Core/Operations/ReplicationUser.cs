using System.Net;
using PgReplication.Core.Model;
using PgReplication.Core.Sql;
using PgReplication.Core.Versions;

namespace PgReplication.Core.Operations;

/// <summary>What a role made by this module is for.</summary>
public enum RolePurpose
{
    /// <summary>The role standbys log in as (New-PgReplicationUser).</summary>
    Replication,
    /// <summary>The daily-work admin role (New-PgAdminRole): the replication role's attributes plus VersionRules.AdminRoleGrants.</summary>
    Admin,
}

/// <summary>What New-PgReplicationUser (or New-PgAdminRole) was asked for.</summary>
public sealed class ReplicationUserOptions
{
    public RolePurpose Purpose { get; init; } = RolePurpose.Replication;
    /// <summary>The role's name and password.</summary>
    public required NetworkCredential Credential { get; init; }
    /// <summary>CONNECTION LIMIT; null leaves it as it is (a new role gets -1, no limit).</summary>
    public int? ConnectionLimit { get; init; }
    /// <summary>Change the password of an existing role, and take over a superuser role.</summary>
    public bool Force { get; init; }
}

/// <summary>A node is not in the role an operation needs (a standby where a primary is needed).</summary>
public sealed class NodeRoleException : RefusedException
{
    public NodeRoleException(PgNode node, string message) : base(ErrorReasons.NotPrimary, message, node) { }
}

/// <summary>What would be done to the role, found by read-only checks; the statements stay inside.</summary>
public sealed class ReplicationUserPlan
{
    internal ReplicationUserPlan(PgNode node, string roleName, bool exists, IReadOnlyList<string> changes,
        IReadOnlyList<string> attributeClauses, bool setPassword, IReadOnlyList<RoleGrant>? grants = null)
    {
        Node = node; RoleName = roleName; Exists = exists; Changes = changes;
        AttributeClauses = attributeClauses; SetPassword = setPassword; Grants = grants ?? Array.Empty<RoleGrant>();
    }

    public PgNode Node { get; }
    public string RoleName { get; }
    public bool Exists { get; }
    /// <summary>One line per change, for -WhatIf and verbose output. Never holds the password or verifier.</summary>
    public IReadOnlyList<string> Changes { get; }
    public bool HasChanges => Changes.Count > 0;
    internal IReadOnlyList<string> AttributeClauses { get; }
    internal bool SetPassword { get; }
    /// <summary>The grants the role does not hold yet (an admin role's).</summary>
    internal IReadOnlyList<RoleGrant> Grants { get; }
}

/// <summary>
/// The replication role on a primary: LOGIN REPLICATION, never SUPERUSER, password stored as a
/// SCRAM-SHA-256 verifier computed here, so the plain password never reaches the server.
/// </summary>
public static class ReplicationUser
{
    private const string RoleQuery = """
        SELECT r.rolsuper, r.rolcanlogin, r.rolreplication, r.rolconnlimit, r.rolcreatedb, r.rolcreaterole, r.rolbypassrls,
               a.rolpassword
          FROM pg_catalog.pg_roles r JOIN pg_catalog.pg_authid a ON a.oid = r.oid
         WHERE r.rolname = @name
        """;

    private const string SelfQuery =
        "SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = pg_catalog.current_user()";

    /// <summary>Read-only checks: the node is a primary, we are a superuser, and what differs from the wanted role.</summary>
    public static ReplicationUserPlan Plan(PgNode node, ReplicationUserOptions options, IOperationLog log)
    {
        var name = options.Credential.UserName;
        var what = options.Purpose == RolePurpose.Admin ? "admin" : "replication";
        if (string.IsNullOrEmpty(name)) throw new ArgumentException($"The {what} credential has no user name.");
        SqlQuote.Identifier(name); // validates length and NUL before anything is sent
        // The role goes into pg_hba.conf and primary_conninfo, its password into passfiles: neither can hold a line break.
        Config.ConfigValues.EnsureSafe(name, $"{what} role name");
        if (string.IsNullOrEmpty(options.Credential.Password))
            throw new ArgumentException($"The {what} credential for role '{name}' has an empty password.");
        Config.ConfigValues.EnsureSafe(options.Credential.Password, $"password of the role '{name}'", secret: true);
        if (options.ConnectionLimit is < -1)
            throw new ArgumentException($"The connection limit {options.ConnectionLimit} is below -1 (no limit).");

        using var session = PgSession.Open(node, log: log);
        NodeDiscovery.Discover(node, session, log);
        EnsurePrimary(node, $"create the {what} role");
        if (session.Scalar<bool>(SelfQuery) != true)
            throw new RefusedException(ErrorReasons.SuperuserRequired,
                $"On {node.Name}, the admin role {node.AdminCredential?.UserName ?? "postgres"} is not a superuser, which creating a {what} role needs " +
                "(a role with REPLICATION, and the password verifiers in pg_authid, are a superuser's): run it once as a superuser.", node);
        if (name == (node.AdminCredential?.UserName ?? "postgres"))
            throw new ArgumentException($"On {node.Name}, '{name}' is the role this module connects as; choose another name for the {what} role.");
        var grants = options.Purpose == RolePurpose.Admin ? VersionRules.AdminRoleGrants(node.MajorVersion ?? VersionRules.NewestMajor) : Array.Empty<RoleGrant>();

        var row = session.Query(RoleQuery, ("name", name)).SingleOrDefault();
        var changes = new List<string>();
        var clauses = new List<string>();
        if (row is null)
        {
            clauses.AddRange(new[] { "LOGIN", "REPLICATION", "NOSUPERUSER", "NOCREATEDB", "NOCREATEROLE", "NOBYPASSRLS" });
            if (options.ConnectionLimit is { } limit) clauses.Add($"CONNECTION LIMIT {limit}");
            changes.Add($"create role '{name}' LOGIN REPLICATION" +
                        (options.ConnectionLimit is { } l ? $" CONNECTION LIMIT {l}" : "") + " with a SCRAM-SHA-256 password");
            changes.AddRange(grants.Select(g => $"role '{name}': grant {g.Description}"));
            return new ReplicationUserPlan(node, name, false, changes, clauses, setPassword: true, grants);
        }

        if (row.Get<bool>("rolsuper") && !options.Force)
            throw new InvalidOperationException(
                $"On {node.Name}, the role '{name}' exists and is a superuser; it was left alone. Use -Force to make it a plain replication role.");

        void Want(bool actual, bool wanted, string on, string off)
        {
            if (actual == wanted) return;
            clauses.Add(wanted ? on : off);
            changes.Add($"role '{name}': {(actual ? on : off)} -> {(wanted ? on : off)}");
        }
        Want(row.Get<bool>("rolsuper"), false, "SUPERUSER", "NOSUPERUSER");
        Want(row.Get<bool>("rolcanlogin"), true, "LOGIN", "NOLOGIN");
        Want(row.Get<bool>("rolreplication"), true, "REPLICATION", "NOREPLICATION");
        Want(row.Get<bool>("rolcreatedb"), false, "CREATEDB", "NOCREATEDB");
        Want(row.Get<bool>("rolcreaterole"), false, "CREATEROLE", "NOCREATEROLE");
        Want(row.Get<bool>("rolbypassrls"), false, "BYPASSRLS", "NOBYPASSRLS");
        var currentLimit = row.Get<int>("rolconnlimit");
        if (options.ConnectionLimit is { } wantedLimit && wantedLimit != currentLimit)
        {
            clauses.Add($"CONNECTION LIMIT {wantedLimit}");
            changes.Add($"role '{name}': CONNECTION LIMIT {currentLimit} -> {wantedLimit}");
        }

        var setPassword = false;
        if (!ScramVerifier.Matches(row.Text("rolpassword"), options.Credential.Password))
        {
            if (options.Force)
            {
                setPassword = true;
                changes.Add($"role '{name}': set a new SCRAM-SHA-256 password");
            }
            else
            {
                log.Warning($"On {node.Name}, the role '{name}' exists with a different password; it was left as is. Use -Force to change it.");
            }
        }
        var missing = MissingGrants(session, name, grants);
        changes.AddRange(missing.Select(g => $"role '{name}': grant {g.Description}"));
        return new ReplicationUserPlan(node, name, true, changes, clauses, setPassword, missing);
    }

    // One round trip: each grant's check as a column.
    private static IReadOnlyList<RoleGrant> MissingGrants(PgSession session, string role, IReadOnlyList<RoleGrant> grants)
    {
        if (grants.Count == 0) return grants;
        var row = session.Query("SELECT " + string.Join(", ", grants.Select((g, i) => $"{g.HeldQuery} AS g{i}")), ("role", role)).Single();
        return grants.Where((g, i) => row.Get<bool>($"g{i}") != true).ToList();
    }

    /// <summary>Carries out a plan in one transaction in which the server logs no statement text.</summary>
    public static void Apply(ReplicationUserPlan plan, ReplicationUserOptions options, IOperationLog log)
    {
        var node = plan.Node;
        if (plan.HasChanges)
        {
            var statement = (plan.Exists ? "ALTER ROLE " : "CREATE ROLE ") + SqlQuote.Identifier(plan.RoleName);
            if (plan.AttributeClauses.Count > 0) statement += " " + string.Join(" ", plan.AttributeClauses);
            if (plan.SetPassword)
                statement += " PASSWORD " + SqlQuote.Literal(ScramVerifier.Compute(options.Credential.Password));

            using var session = PgSession.Open(node, log: log);
            EnsurePrimary(node, session, $"create the {(options.Purpose == RolePurpose.Admin ? "admin" : "replication")} role");
            if (plan.AttributeClauses.Count > 0 || plan.SetPassword || !plan.Exists)
                ExecuteUnlogged(session, statement, $"{(plan.Exists ? "ALTER" : "CREATE")} ROLE {SqlQuote.Identifier(plan.RoleName)} ...");
            // Grants carry no secret; each is idempotent, so a run stopped half-way is finished by the next.
            foreach (var grant in plan.Grants) session.Execute(grant.For(SqlQuote.Identifier(plan.RoleName)));
            foreach (var change in plan.Changes) log.Verbose($"{node.Name}: {change}.");
        }
        else
        {
            log.Verbose($"{node.Name}: the role '{plan.RoleName}' already has the right attributes; nothing changed.");
        }
        if (options.Purpose == RolePurpose.Replication)
            node.ReplicationCredential = new NetworkCredential(options.Credential.UserName, options.Credential.Password);
    }

    /// <summary>
    /// Runs a statement that carries a password verifier in one transaction in which the server logs no statement
    /// text, whatever its logging settings; the debug stream gets <paramref name="description"/> only.
    /// </summary>
    internal static void ExecuteUnlogged(PgSession session, string statement, string description)
    {
        session.Execute("BEGIN");
        try
        {
            session.Execute("SET LOCAL log_statement = 'none'");
            session.Execute("SET LOCAL log_min_duration_statement = -1");
            session.Execute("SET LOCAL log_min_error_statement = 'panic'");
            session.ExecuteSecret(statement, description);
            session.Execute("COMMIT");
        }
        catch
        {
            // A rollback on a connection the failure closed must not hide the failure.
            try { session.Execute("ROLLBACK"); } catch (Exception ex) when (ex is PgConnectionException or PgQueryException or InvalidOperationException) { }
            throw;
        }
    }

    internal static void EnsurePrimary(PgNode node, string what)
    {
        if (node.Role != NodeRole.Primary)
            throw new NodeRoleException(node,
                $"{node.Name} is a standby (in recovery), not a primary; {what} on the primary.");
    }

    private static void EnsurePrimary(PgNode node, PgSession session, string what)
    {
        if (session.Scalar<bool>("SELECT pg_catalog.pg_is_in_recovery()"))
        {
            node.Role = NodeRole.Standby;
            EnsurePrimary(node, what);
        }
    }
}
