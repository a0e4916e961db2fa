using PgReplication.Core.Operations;

namespace PgReplication.Core.Tests;

/// <summary>A standby added after Enable-PgReplicationSsl: what it gets of the cluster's TLS (StandbyTls.Decide).</summary>
public sealed class StandbyTlsTests
{
    private const string Pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

    private static StandbyTlsFacts Facts(Dictionary<string, string>? settings = null, string[]? missing = null, bool hostHasRoot = false,
        string? upstreamRoot = Pem, string? unreadable = null) => new()
    {
        Standby = "db3", Upstream = "db1",
        Settings = settings ?? new Dictionary<string, string>
        {
            ["ssl"] = "on", ["ssl_cert_file"] = "/var/lib/postgresql/16/main.tls/server.crt", ["ssl_key_file"] = "/var/lib/postgresql/16/main.tls/server.key",
        },
        MissingFiles = missing ?? new[] { "/var/lib/postgresql/16/main.tls/server.crt", "/var/lib/postgresql/16/main.tls/server.key" },
        HostHasRoot = hostHasRoot, UpstreamRootPem = upstreamRoot, UpstreamRootUnreadable = unreadable,
    };

    [Fact]
    public void A_copy_naming_the_upstreams_certificate_gets_the_CA_ssl_off_and_one_warning_naming_the_cmdlet()
    {
        var d = StandbyTls.Decide(Facts());
        Assert.Equal(Pem, d.RootToWrite);
        Assert.Equal("off", d.ServerSettings["ssl"]);
        Assert.Single(d.ServerSettings);
        Assert.Contains("Run Enable-PgReplicationSsl with every node, db3 included", d.Warning);
        Assert.Contains("verifies db1 with the cluster's CA", d.Warning);
        Assert.Contains("/var/lib/postgresql/16/main.tls/server.crt", d.Warning);
    }

    [Fact]
    public void A_host_with_its_own_certificate_keeps_ssl_on_and_its_CA_and_nothing_is_said()
    {
        var d = StandbyTls.Decide(Facts(missing: Array.Empty<string>(), hostHasRoot: true));
        Assert.True(d.ChangesNothing);
        Assert.Null(d.Warning);
    }

    [Fact]
    public void A_host_with_its_certificate_but_no_CA_gets_the_CA_only()
    {
        var d = StandbyTls.Decide(Facts(missing: Array.Empty<string>()));
        Assert.Equal(Pem, d.RootToWrite);
        Assert.Empty(d.ServerSettings);
        Assert.Null(d.Warning);
    }

    [Theory]
    [InlineData("off")]
    [InlineData("false")]
    [InlineData("0")]
    [InlineData("no")]
    [InlineData("OFF")]
    public void Ssl_already_off_is_left_alone_even_with_missing_files(string off)
    {
        var d = StandbyTls.Decide(Facts(settings: new Dictionary<string, string> { ["ssl"] = off, ["ssl_cert_file"] = "x.crt" }, missing: new[] { "/d/x.crt" }));
        Assert.Empty(d.ServerSettings);
        Assert.Null(d.Warning);
    }

    [Fact]
    public void File_settings_without_ssl_in_auto_conf_turn_ssl_off_since_postgresql_conf_may_turn_it_on()
    {
        var d = StandbyTls.Decide(Facts(settings: new Dictionary<string, string> { ["ssl_cert_file"] = "/x.crt" }, missing: new[] { "/x.crt" }));
        Assert.Equal("off", d.ServerSettings["ssl"]);
    }

    [Fact]
    public void An_upstream_whose_CA_cannot_be_read_is_said_the_standby_does_not_verify_it()
    {
        var d = StandbyTls.Decide(Facts(upstreamRoot: null, unreadable: "permission denied for function pg_read_file"));
        Assert.Null(d.RootToWrite);
        Assert.Equal("off", d.ServerSettings["ssl"]);
        Assert.Contains("does not verify db1", d.Warning);
        Assert.Contains("permission denied", d.Warning);
        var noSsl = StandbyTls.Decide(Facts(settings: new Dictionary<string, string>(), missing: Array.Empty<string>(), upstreamRoot: null, unreadable: "denied"));
        Assert.Empty(noSsl.ServerSettings);
        Assert.Contains("does not verify db1", noSsl.Warning);
    }

    [Fact]
    public void An_upstream_without_TLS_changes_nothing()
    {
        var d = StandbyTls.Decide(Facts(settings: new Dictionary<string, string>(), missing: Array.Empty<string>(), upstreamRoot: null));
        Assert.True(d.ChangesNothing);
        Assert.Null(d.Warning);
    }

    [Theory]
    [InlineData("off", true)]
    [InlineData("of", true)]
    [InlineData("f", true)]
    [InlineData("n", true)]
    [InlineData("on", false)]
    [InlineData("o", false)]
    [InlineData("true", false)]
    [InlineData("", false)]
    public void Booleans_are_read_as_PostgreSQL_reads_them(string value, bool off) => Assert.Equal(off, StandbyTls.IsOff(value));

    [Theory]
    [InlineData("/var/lib/postgresql/16/main.tls/server.crt", "/var/lib/postgresql/16/main.tls/root.crt")]
    [InlineData("/etc/ssl/certs/ssl-cert-snakeoil.pem", null)]
    [InlineData("server.crt", null)]
    [InlineData("", null)]
    public void The_upstreams_CA_is_looked_for_beside_Enable_PgReplicationSsls_certificate_only(string certFile, string? root) =>
        Assert.Equal(root, TlsFiles.RootCertificateBeside(certFile));
}
