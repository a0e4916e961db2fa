using System.Net;
using System.Security.Cryptography;
using System.Text;
using PgReplication.Core.Model;
using PgReplication.Core.Sql;

namespace PgReplication.Core.Operations;

/// <summary>
/// Proves, before a role changes anywhere, that a follower's replication login will be accepted: the role exists, may log
/// in and replicate, and its stored verifier (SCRAM, or md5 on clusters built long ago) matches the password the follower
/// will be given. Read from pg_authid, which every member of a cluster has the same copy of.
/// </summary>
public static class ReplicationLogin
{
    /// <summary>Null when the login will work (or cannot be checked: pg_authid needs a superuser); else why not.</summary>
    public static string? Refusal(PgSession session, NetworkCredential login, string follower, string upstream, string source, IOperationLog log)
    {
        SqlRow? role;
        try
        {
            role = session.Query("SELECT a.rolcanlogin, a.rolreplication, a.rolsuper, a.rolpassword FROM pg_catalog.pg_authid a WHERE a.rolname = @role",
                ("role", login.UserName)).FirstOrDefault();
        }
        catch (PgQueryException ex) when (ex.SqlState == "42501")
        {
            log.Verbose($"The replication password of {follower} was not checked: reading pg_authid needs a superuser.");
            return null;
        }
        if (role is null) return $"{follower} would log in to {upstream} as '{login.UserName}' ({source}), a role that does not exist";
        if (role.Get<bool>("rolcanlogin") is false || role.Get<bool>("rolreplication") is false && role.Get<bool>("rolsuper") is false)
            return $"{follower} would log in to {upstream} as '{login.UserName}' ({source}), a role without LOGIN and REPLICATION";
        var verifier = role.Text("rolpassword");
        if (verifier is null) return $"{follower} would log in to {upstream} as '{login.UserName}' ({source}), a role with no password";
        return Matches(verifier, login.UserName, login.Password) ? null
            : $"{follower} would log in to {upstream} as '{login.UserName}' with the password from {source}, which is not that role's password";
    }

    /// <summary>A stored verifier against a password: SCRAM-SHA-256, or md5 ("md5" + md5(password + role name)).</summary>
    internal static bool Matches(string verifier, string user, string password)
    {
        if (!verifier.StartsWith("md5", StringComparison.Ordinal) || verifier.Length != 35) return ScramVerifier.Matches(verifier, password);
        var md5 = "md5" + Convert.ToHexString(MD5.HashData(Encoding.UTF8.GetBytes(password + user))).ToLowerInvariant();
        return CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(md5), Encoding.ASCII.GetBytes(verifier));
    }
}
