using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using PgReplication.Core.Config;
using PgReplication.Core.Model;
using PgReplication.Core.Operations;
using PgReplication.Core.Sql;

namespace PgReplication.Core.Tests;

/// <summary>The pure parts of TLS end to end: the CA, the pg_hba.conf edit, the connection strings.</summary>
public sealed class TlsTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "pgr-tls-" + Guid.NewGuid().ToString("N"));

    public void Dispose() { if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true); }

    private static string Csr()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        return new CertificateRequest("CN=whatever the host asks", key, HashAlgorithmName.SHA256).CreateSigningRequestPem();
    }

    [Fact]
    public void A_new_CA_has_its_key_0600_and_signs_a_certificate_for_the_node_name_only()
    {
        var ca = CertificateAuthority.LoadOrCreate(_dir, "db1");
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(CertificateAuthority.KeyPath(_dir)));
        var cert = ca.Sign(Csr(), "10.0.0.2", 90);
        Assert.True(ca.Covers(cert, "10.0.0.2"));
        Assert.False(ca.Covers(cert, "10.0.0.3"));
        using var parsed = X509Certificate2.CreateFromPem(cert);
        Assert.Equal("CN=10.0.0.2", parsed.Subject);
        Assert.True(ca.Covers(ca.Sign(Csr(), "db2.example.net", 90), "db2.example.net"));
    }

    [Fact]
    public void A_certificate_of_another_CA_or_about_to_expire_is_not_covered()
    {
        var ca = CertificateAuthority.LoadOrCreate(_dir, "db1");
        var other = CertificateAuthority.LoadOrCreate(_dir + "-other", "db1");
        try
        {
            Assert.False(ca.Covers(other.Sign(Csr(), "10.0.0.2", 90), "10.0.0.2"));
            Assert.False(ca.Covers(ca.Sign(Csr(), "10.0.0.2", 20), "10.0.0.2"));
            Assert.False(ca.Covers(null, "10.0.0.2"));
        }
        finally { Directory.Delete(_dir + "-other", recursive: true); }
    }

    [Fact]
    public void A_CA_directory_with_one_file_only_is_refused()
    {
        CertificateAuthority.LoadOrCreate(_dir, "db1");
        File.Delete(CertificateAuthority.KeyPath(_dir));
        Assert.Contains("no ca.key", Assert.Throws<ArgumentException>(() => CertificateAuthority.LoadOrCreate(_dir, "db1")).Message);
    }

    [Fact]
    public void The_roles_replication_lines_become_hostssl_and_nothing_else()
    {
        var text = "local all all peer\nhost replication replicator 10.0.0.2/32 scram-sha-256  # added by PgReplication\n" +
                   "host replication other 10.0.0.3/32 scram-sha-256\nhost all all 10.0.0.0/24 scram-sha-256\n";
        var edit = HbaEditor.ReplicationLinesToSsl(text, "replicator");
        Assert.Equal("hostssl replication replicator 10.0.0.2/32 scram-sha-256  # added by PgReplication", Assert.Single(edit.AddedLines));
        Assert.Contains("host replication other", edit.NewText);
        Assert.False(HbaEditor.ReplicationLinesToSsl(edit.NewText, "replicator").Changed);
        Assert.False(HbaEditor.AdmitsRoleOverSslOnly(text, "replicator"));
        Assert.True(HbaEditor.AdmitsRoleOverSslOnly(edit.NewText, "replicator"));
        Assert.False(HbaEditor.AdmitsRoleOverSslOnly(edit.NewText, "nobody"));
    }

    [Fact]
    public void Connection_strings_carry_sslmode_and_the_CA_in_every_format()
    {
        var nodes = new[] { new PgNode("db1"), new PgNode("db2") };
        var s = new ConnectionStringSettings { UserName = "app", SslMode = "verify-full", SslRootCert = "/etc/app/ca.crt" };
        Assert.Contains("sslmode='verify-full' sslrootcert='/etc/app/ca.crt'", ConnectionStrings.Build(ConnectionStringFormat.Libpq, nodes, s).ConnectionString);
        var npgsql = ConnectionStrings.Build(ConnectionStringFormat.Npgsql, nodes, s).ConnectionString;
        Assert.Contains("SSL Mode=VerifyFull", npgsql);
        Assert.Contains("Root Certificate=/etc/app/ca.crt", npgsql);
        Assert.Contains("sslmode=verify-full&sslrootcert=%2Fetc%2Fapp%2Fca.crt", ConnectionStrings.Build(ConnectionStringFormat.Jdbc, nodes, s).ConnectionString);
        Assert.Throws<ArgumentException>(() => ConnectionStrings.Build(ConnectionStringFormat.Libpq, nodes, s with { SslMode = "verify-most" }));
    }
}
