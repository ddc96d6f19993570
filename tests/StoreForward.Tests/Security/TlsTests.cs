using System.Security.Authentication;
using MQTTnet.Protocol;
using StoreForward.Tests.Infrastructure;

namespace StoreForward.Tests.Security;

/// <summary>
/// TLS against a Mosquitto listener that requires a client certificate: the broker's certificate is checked against the
/// CA and its name, the client proves itself with its certificate, and every wrong setting fails with a message that
/// names the check, while the messages wait for the fixed configuration.
/// </summary>
public sealed class TlsTests : SecurityTest, IDisposable
{
    private readonly TestPki _pki;
    private readonly int _tlsPort;
    private readonly int _tls13Port;
    private readonly int _expiredPort;

    public TlsTests()
        : this(TestPki.Create(), LoopbackPort.Unused(), LoopbackPort.Unused(), LoopbackPort.Unused())
    {
    }

    private TlsTests(TestPki pki, int tlsPort, int tls13Port, int expiredPort)
        : base(new MosquittoSettings
        {
            ExtraConfig = [.. pki.ListenerConfig(tlsPort), .. pki.ListenerConfig(expiredPort, expired: true), .. pki.ListenerConfig(tls13Port), "tls_version tlsv1.3"],
        })
    {
        _pki = pki;
        _tlsPort = tlsPort;
        _tls13Port = tls13Port;
        _expiredPort = expiredPort;
    }

    public void Dispose() => _pki.Dispose();

    private StoreForwardOptions TlsOptions(Action<StoreForwardTlsOptions> configure, int? port = null)
    {
        var options = Options(port ?? _tlsPort);
        options.Tls.Enabled = true;
        configure(options.Tls);
        return options;
    }

    private void Trusted(StoreForwardTlsOptions tls)
    {
        tls.CaFile = _pki.CaFile;
        tls.TargetHost = TestPki.BrokerName;
        tls.ClientCertificateFile = _pki.ClientCertificateFile;
        tls.ClientKeyFile = _pki.ClientKeyFile;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Delivers_exactly_once_over_mutual_tls_with_a_pem_or_pkcs12_client_certificate(bool pkcs12)
    {
        var options = TlsOptions(tls =>
        {
            Trusted(tls);
            if (pkcs12)
            {
                tls.ClientCertificateFile = _pki.ClientPfxFile;
                tls.ClientKeyFile = null;
                tls.ClientCertificatePassword = TestPki.PfxPassword;
            }
        });
        var publisher = await StartPublisherAsync(options);

        var receipts = await PublishManyAsync(publisher, 0, 50, MqttQualityOfServiceLevel.ExactlyOnce);

        await AssertDeliveredAsync(0, receipts, exactlyOnce: true);
        Assert.NotEmpty(Broker.LogLinesContaining($"on port {_tlsPort}."));
        Assert.True(publisher.Status.IsConnected);
    }

    [Fact]
    public async Task Only_the_allowed_tls_versions_are_offered()
    {
        // The second listener speaks TLS 1.3 only (Mosquitto's tls_version is the lowest version it accepts).
        var errors = (await RefusedAsync(TlsOptions(
            tls =>
            {
                Trusted(tls);
                tls.Protocols = SslProtocols.Tls12;
            },
            _tls13Port))).Errors;

        Assert.All(errors, e => Assert.Contains("failed in the handshake", e, StringComparison.Ordinal));
        await AssertFixedDeliversAsync(TlsOptions(
            tls =>
            {
                Trusted(tls);
                tls.Protocols = SslProtocols.Tls13;
            },
            _tls13Port));
    }

    [Fact]
    public async Task A_broker_certificate_no_trusted_root_issued_fails_clearly_and_the_messages_wait_for_the_ca_file()
    {
        var errors = (await RefusedAsync(TlsOptions(tls =>
        {
            Trusted(tls);
            tls.CaFile = null; // the system's roots, which never issued the test CA
        }))).Errors;

        Assert.All(errors, e => Assert.Contains("is not trusted", e, StringComparison.Ordinal));
        Assert.All(errors, e => Assert.Contains("set Tls.CaFile", e, StringComparison.Ordinal));
        await AssertFixedDeliversAsync(TlsOptions(Trusted));
    }

    [Fact]
    public async Task A_broker_certificate_outside_its_validity_names_its_dates_and_the_clock_instead_of_the_ca_file()
    {
        using var expired = System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPem(File.ReadAllText(_pki.ExpiredBrokerCertificateFile));
        var errors = (await RefusedAsync(TlsOptions(Trusted, _expiredPort))).Errors;

        Assert.All(errors, e => Assert.Contains(
            $"the broker's certificate (CN={TestPki.BrokerName}, valid {expired.NotBefore.ToUniversalTime():u} to {expired.NotAfter.ToUniversalTime():u}) is not valid at this machine's time, ",
            e,
            StringComparison.Ordinal));
        Assert.All(errors, e => Assert.Contains("check the clock, or renew the expired certificate", e, StringComparison.Ordinal));
        Assert.All(errors, e => Assert.DoesNotContain("Tls.CaFile", e, StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_broker_certificate_from_another_ca_than_the_ca_file_fails_clearly()
    {
        var errors = (await RefusedAsync(TlsOptions(tls =>
        {
            Trusted(tls);
            tls.CaFile = _pki.OtherCaFile;
        }))).Errors;

        Assert.All(errors, e => Assert.Contains("does not lead to a CA of Tls.CaFile", e, StringComparison.Ordinal));
        await AssertFixedDeliversAsync(TlsOptions(Trusted));
    }

    [Fact]
    public async Task A_broker_certificate_for_another_name_fails_clearly_and_the_messages_wait_for_the_target_host()
    {
        var errors = (await RefusedAsync(TlsOptions(tls =>
        {
            Trusted(tls);
            tls.TargetHost = null; // checked against the Host, 127.0.0.1, which the certificate does not name
        }))).Errors;

        Assert.All(errors, e => Assert.Contains($"is not issued for '127.0.0.1' (it names {TestPki.BrokerName})", e, StringComparison.Ordinal));
        await AssertFixedDeliversAsync(TlsOptions(Trusted));
    }

    [Fact]
    public async Task A_missing_client_certificate_fails_clearly_and_the_messages_wait_for_it()
    {
        var errors = (await RefusedAsync(TlsOptions(tls =>
        {
            Trusted(tls);
            tls.ClientCertificateFile = null;
            tls.ClientKeyFile = null;
        }))).Errors;

        Assert.All(errors, e => Assert.Contains("set Tls.ClientCertificateFile", e, StringComparison.Ordinal));
        await AssertFixedDeliversAsync(TlsOptions(Trusted));
    }
}
