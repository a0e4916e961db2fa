using PgReplication.Core.Operations;
using PgReplication.Core.Sql;

namespace PgReplication.Core.Tests;

/// <summary>A follower's password against the role's stored verifier, before a switchover changes any role.</summary>
public sealed class ReplicationLoginTests
{
    [Fact]
    public void A_scram_verifier_matches_its_password_only()
    {
        var verifier = ScramVerifier.Compute("right password");
        Assert.True(ReplicationLogin.Matches(verifier, "replicator", "right password"));
        Assert.False(ReplicationLogin.Matches(verifier, "replicator", "stale-password"));
    }

    [Fact]
    public void An_md5_verifier_of_an_old_cluster_matches_password_and_role_name()
    {
        // PostgreSQL's md5 verifier: "md5" + md5(password || role name); this one is of 'secret' for 'replicator'.
        var verifier = "md5" + Convert.ToHexString(System.Security.Cryptography.MD5.HashData("secretreplicator"u8.ToArray())).ToLowerInvariant();
        Assert.True(ReplicationLogin.Matches(verifier, "replicator", "secret"));
        Assert.False(ReplicationLogin.Matches(verifier, "other", "secret"));
        Assert.False(ReplicationLogin.Matches(verifier, "replicator", "Secret"));
    }
}
