using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace PgReplication.Core.Operations;

/// <summary>
/// The cluster's CA on this machine: ca.crt and ca.key (PEM) in a directory of the user's (0700, the key 0600). The user's
/// own CA is the same two files; a CA made here is ECDSA P-256, valid ten years. It signs the nodes' certificate requests:
/// the nodes' private keys are made on their hosts and never leave them.
/// </summary>
public sealed class CertificateAuthority
{
    private CertificateAuthority(X509Certificate2 certificate, string pem) { Certificate = certificate; Pem = pem; }

    public X509Certificate2 Certificate { get; }
    /// <summary>The CA certificate as PEM: what each node gets as root.crt.</summary>
    public string Pem { get; }

    public static string CertificatePath(string directory) => Path.Combine(directory, "ca.crt");
    public static string KeyPath(string directory) => Path.Combine(directory, "ca.key");

    /// <summary>True when the directory holds no CA yet (one would be made).</summary>
    public static bool IsNew(string directory) => !File.Exists(CertificatePath(directory)) && !File.Exists(KeyPath(directory));

    /// <summary>Loads the CA in <paramref name="directory"/>, or makes one there when it holds neither file.</summary>
    public static CertificateAuthority LoadOrCreate(string directory, string clusterName)
    {
        var (crt, key) = (CertificatePath(directory), KeyPath(directory));
        if (File.Exists(crt) != File.Exists(key))
            throw new ArgumentException($"The CA directory {directory} holds {(File.Exists(crt) ? "ca.crt but no ca.key" : "ca.key but no ca.crt")}: give both (PEM), or an empty directory for a new CA.");
        if (!File.Exists(crt))
        {
            Directory.CreateDirectory(directory);
            if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var request = new CertificateRequest($"CN={Escape(clusterName)} PgReplication CA", caKey, HashAlgorithmName.SHA256);
            request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
            request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
            request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
            using var ca = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddYears(10));
            WriteSecret(key, caKey.ExportPkcs8PrivateKeyPem());
            File.WriteAllText(crt, ca.ExportCertificatePem() + "\n");
        }
        var pem = File.ReadAllText(crt);
        X509Certificate2 certificate;
        try { certificate = X509Certificate2.CreateFromPemFile(crt, key); }
        catch (CryptographicException ex) { throw new ArgumentException($"The CA in {directory} cannot be read (ca.crt and ca.key, PEM, the key unencrypted): {ex.Message}", ex); }
        if (!certificate.Extensions.OfType<X509BasicConstraintsExtension>().Any(b => b.CertificateAuthority))
            throw new ArgumentException($"The certificate {crt} is not a CA certificate (no basic constraint CA:TRUE).");
        return new CertificateAuthority(certificate, pem.TrimEnd() + "\n");
    }

    /// <summary>
    /// Signs a node's certificate request (PEM) for <paramref name="hostName"/>: its public key only, our own subject and
    /// names (an IP address as an IP name, else a DNS name; the CN too, which libpq before 14 compares).
    /// </summary>
    public string Sign(string csrPem, string hostName, int validDays)
    {
        var request = CertificateRequest.LoadSigningRequestPem(csrPem, HashAlgorithmName.SHA256,
            CertificateRequestLoadOptions.UnsafeLoadCertificateExtensions);
        var leaf = new CertificateRequest(new X500DistinguishedName($"CN={Escape(hostName)}"), request.PublicKey, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        if (IPAddress.TryParse(hostName, out var ip)) names.AddIpAddress(ip); else names.AddDnsName(hostName);
        leaf.CertificateExtensions.Add(names.Build());
        leaf.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        leaf.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment, true));
        leaf.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(new OidCollection { new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2") }, false));
        leaf.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(Certificate, true, false));
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7F;
        var notAfter = DateTimeOffset.UtcNow.AddDays(validDays);
        if (notAfter > Certificate.NotAfter) notAfter = Certificate.NotAfter;
        using var signed = leaf.Create(Certificate, DateTimeOffset.UtcNow.AddMinutes(-5), notAfter, serial);
        return signed.ExportCertificatePem() + "\n";
    }

    /// <summary>
    /// True when <paramref name="certificatePem"/> is signed by this CA, names <paramref name="hostName"/>, and has more than
    /// 30 days left: a node whose certificate passes keeps it.
    /// </summary>
    public bool Covers(string? certificatePem, string hostName)
    {
        if (string.IsNullOrWhiteSpace(certificatePem)) return false;
        try
        {
            using var cert = X509Certificate2.CreateFromPem(certificatePem);
            if (cert.NotAfter < DateTime.UtcNow.AddDays(30) || cert.Issuer != Certificate.Subject) return false;
            using var chain = new X509Chain();
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.Add(Certificate);
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            return chain.Build(cert) && cert.MatchesHostname(hostName, allowWildcards: false, allowCommonName: false);
        }
        catch (CryptographicException) { return false; }
    }

    private static void WriteSecret(string path, string text)
    {
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        using var stream = new FileStream(path, options);
        using var writer = new StreamWriter(stream);
        writer.Write(text + "\n");
    }

    private static string Escape(string value) => value.Replace("\\", "\\\\").Replace(",", "\\,").Replace("+", "\\+").Replace("\"", "\\\"").Replace("=", "\\=");
}
