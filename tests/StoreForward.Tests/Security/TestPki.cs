using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace StoreForward.Tests.Security;

/// <summary>
/// A small PKI made for one test with .NET's <see cref="CertificateRequest"/>: a CA, a broker certificate it issued for
/// the name <see cref="BrokerName"/> only (not for 127.0.0.1, so that the name check can be seen to work), a client
/// certificate it issued (as PEM files and as a password-protected PKCS#12 file), and a second CA that issued nothing the
/// broker uses. Files live in a directory of their own, deleted with the object.
/// </summary>
public sealed class TestPki : IDisposable
{
    public const string BrokerName = "broker.test";
    public const string PfxPassword = "pfx-Pa55word";

    private TestPki(string directory) => Directory = directory;

    public string Directory { get; }

    public string CaFile => File("ca.crt");

    public string OtherCaFile => File("other-ca.crt");

    public string BrokerCertificateFile => File("broker.crt");

    public string BrokerKeyFile => File("broker.key");

    /// <summary>The broker's certificate as it was before it expired yesterday: same name, key and CA.</summary>
    public string ExpiredBrokerCertificateFile => File("broker-expired.crt");

    public string ClientCertificateFile => File("client.crt");

    public string ClientKeyFile => File("client.key");

    public string ClientPfxFile => File("client.pfx");

    public static TestPki Create()
    {
        var pki = new TestPki(Path.Combine(Path.GetTempPath(), "sf-pki-" + Guid.NewGuid().ToString("N")));
        System.IO.Directory.CreateDirectory(pki.Directory);
        using var ca = CreateCa("CN=StoreForward Test CA");
        using var otherCa = CreateCa("CN=Some Other CA");
        System.IO.File.WriteAllText(pki.CaFile, ca.ExportCertificatePem());
        System.IO.File.WriteAllText(pki.OtherCaFile, otherCa.ExportCertificatePem());

        using var brokerKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var broker = Issue(ca, brokerKey, "CN=" + BrokerName, serverAuth: true);
        System.IO.File.WriteAllText(pki.BrokerCertificateFile, broker.ExportCertificatePem());
        System.IO.File.WriteAllText(pki.BrokerKeyFile, brokerKey.ExportPkcs8PrivateKeyPem());
        using var expired = Issue(ca, brokerKey, "CN=" + BrokerName, serverAuth: true, notAfter: DateTimeOffset.UtcNow.AddDays(-1));
        System.IO.File.WriteAllText(pki.ExpiredBrokerCertificateFile, expired.ExportCertificatePem());

        using var clientKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var client = Issue(ca, clientKey, "CN=sf-gateway", serverAuth: false);
        System.IO.File.WriteAllText(pki.ClientCertificateFile, client.ExportCertificatePem());
        System.IO.File.WriteAllText(pki.ClientKeyFile, clientKey.ExportPkcs8PrivateKeyPem());
        using var withKey = client.CopyWithPrivateKey(clientKey);
        System.IO.File.WriteAllBytes(pki.ClientPfxFile, withKey.Export(X509ContentType.Pkcs12, PfxPassword));
        return pki;
    }

    /// <summary>
    /// Mosquitto's lines for a TLS listener on <paramref name="port"/> that requires a client certificate of our CA, and
    /// presents the broker's certificate or, with <paramref name="expired"/>, its expired one.
    /// </summary>
    public IReadOnlyList<string> ListenerConfig(int port, bool expired = false) =>
    [
        $"listener {port} 127.0.0.1",
        $"cafile {CaFile}",
        $"certfile {(expired ? ExpiredBrokerCertificateFile : BrokerCertificateFile)}",
        $"keyfile {BrokerKeyFile}",
        "require_certificate true",
    ];

    public void Dispose()
    {
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private string File(string name) => Path.Combine(Directory, name);

    private static X509Certificate2 CreateCa(string subject)
    {
        // Not disposed: the certificate signs with it later.
        var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-60), DateTimeOffset.UtcNow.AddYears(1));
    }

    private static X509Certificate2 Issue(X509Certificate2 ca, ECDsa key, string subject, bool serverAuth, DateTimeOffset? notAfter = null)
    {
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            [new Oid(serverAuth ? "1.3.6.1.5.5.7.3.1" : "1.3.6.1.5.5.7.3.2")], false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(ca, true, false));
        if (serverAuth)
        {
            var names = new SubjectAlternativeNameBuilder();
            names.AddDnsName(BrokerName);
            request.CertificateExtensions.Add(names.Build());
        }

        var until = notAfter ?? DateTimeOffset.UtcNow.AddDays(30);
        return request.Create(ca, until.AddDays(-31), until, RandomNumberGenerator.GetBytes(16));
    }
}
