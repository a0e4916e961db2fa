using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace PgReplication.Core.Operations;

/// <summary>A certificate and its private key, as PEM text.</summary>
public sealed record PemPair(string Certificate, string PrivateKey)
{
    public byte[] CertificateDer() => X509Certificate2.CreateFromPem(Certificate).RawData;
}

/// <summary>
/// The cluster's own certificate authority and the members' certificates (ECDSA P-256), made in this process with .NET's
/// X.509 classes (OpenSSL underneath on Linux): no key ever passes through a command line or a temporary file here.
/// </summary>
public static class HaCertificates
{
    private static readonly TimeSpan Lifetime = TimeSpan.FromDays(3650);

    public static PemPair NewAuthority(string scope)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN=PgReplication CA {scope}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        var now = DateTimeOffset.UtcNow;
        using var ca = request.CreateSelfSigned(now.AddDays(-1), now + Lifetime);
        return new PemPair(ca.ExportCertificatePem(), key.ExportPkcs8PrivateKeyPem());
    }

    /// <summary>A member's certificate for etcd (server and peer), its client certificate, and Patroni's REST API: the host's address (and name) as subject alternative names.</summary>
    public static PemPair NewMember(PemPair authority, string memberName, IEnumerable<string> addressesOrNames)
    {
        using var caKey = ECDsa.Create();
        caKey.ImportFromPem(authority.PrivateKey);
        using var caPublic = X509Certificate2.CreateFromPem(authority.Certificate);
        using var ca = caPublic.CopyWithPrivateKey(caKey);

        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={memberName}", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        foreach (var n in addressesOrNames.Distinct(StringComparer.OrdinalIgnoreCase))
        {
            if (IPAddress.TryParse(n, out var ip)) names.AddIpAddress(ip);
            else names.AddDnsName(n);
        }
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyAgreement, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(new OidCollection
        {
            new Oid("1.3.6.1.5.5.7.3.1"), // server authentication
            new Oid("1.3.6.1.5.5.7.3.2"), // client authentication
        }, false));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(ca, true, false));
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7F;
        var now = DateTimeOffset.UtcNow;
        var notAfter = now + Lifetime < ca.NotAfter ? now + Lifetime : new DateTimeOffset(ca.NotAfter.ToUniversalTime());
        using var cert = request.Create(ca, now.AddDays(-1), notAfter, serial);
        return new PemPair(cert.ExportCertificatePem(), key.ExportPkcs8PrivateKeyPem());
    }

    /// <summary>True when <paramref name="certificate"/> is signed by the CA whose DER is given (the CA is the only trust root).</summary>
    public static bool IsSignedBy(X509Certificate2 certificate, byte[] caCertificateDer)
    {
        using var ca = new X509Certificate2(caCertificateDer);
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(ca);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        return chain.Build(certificate);
    }
}
