using System.Security.Authentication;

namespace StoreForward.Tests.Security;

/// <summary>TLS settings are checked, and their files read, when the publisher starts; each mistake names itself.</summary>
[Trait("Category", "Unit")]
public sealed class TlsOptionsTests : IDisposable
{
    private readonly TestPki _pki = TestPki.Create();

    public void Dispose() => _pki.Dispose();

    private static StoreForwardOptions Options(Action<StoreForwardTlsOptions> configure, bool enabled = true)
    {
        var options = new StoreForwardOptions { ClientId = "c", Port = 8883 };
        options.Tls.Enabled = enabled;
        configure(options.Tls);
        return options;
    }

    private static ArgumentException Refused(StoreForwardOptions options) => Assert.ThrowsAny<ArgumentException>(() => OptionsValidation.Validate(options));

    [Fact]
    public void Complete_settings_pass()
    {
        OptionsValidation.Validate(Options(tls =>
        {
            tls.CaFile = _pki.CaFile;
            tls.ClientCertificateFile = _pki.ClientPfxFile;
            tls.ClientCertificatePassword = TestPki.PfxPassword;
        }));
    }

    public static TheoryData<string, Action<StoreForwardTlsOptions>> EachTlsSetting => new()
    {
        { "CaFile", tls => tls.CaFile = "ca.crt" },
        { "CaCertificates", tls => tls.CaCertificates = [] },
        { "TargetHost", tls => tls.TargetHost = "broker.plant" },
        { "ClientCertificateFile", tls => tls.ClientCertificateFile = "client.pem" },
        { "ClientKeyFile", tls => tls.ClientKeyFile = "client.key" },
        { "ClientCertificatePassword", tls => tls.ClientCertificatePassword = "secret" },
        { "Protocols", tls => tls.Protocols = SslProtocols.Tls13 },
        { "CheckCertificateRevocation", tls => tls.CheckCertificateRevocation = true },
    };

    /// <summary>Every TLS setting counts, so that a forgotten <c>Enabled</c> never means clear text.</summary>
    [Theory]
    [MemberData(nameof(EachTlsSetting))]
    public void Any_tls_setting_while_tls_is_off_is_refused_instead_of_connecting_in_clear_text(string setting, Action<StoreForwardTlsOptions> set)
    {
        var error = Refused(Options(set, enabled: false));

        Assert.True(error.ParamName == "StoreForwardOptions.Tls.Enabled", $"{setting} was not refused as a setting without Tls.Enabled: {error.Message}");
        Assert.Contains("plain TCP", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Tls_left_off_with_default_settings_is_plain_tcp_and_valid() => OptionsValidation.Validate(Options(_ => { }, enabled: false));

    [Fact]
    public void Tls_older_than_1_2_is_refused()
    {
#pragma warning disable CA5397 // The point: an old version must be refused.
        var error = Refused(Options(tls => tls.Protocols = (SslProtocols)0x0300 | SslProtocols.Tls12)); // 0x0300: TLS 1.1
#pragma warning restore CA5397

        Assert.Equal("StoreForwardOptions.Tls.Protocols", error.ParamName);
    }

    [Fact]
    public void A_missing_or_empty_ca_file_is_named()
    {
        var missing = Path.Combine(_pki.Directory, "missing.crt");
        var empty = Path.Combine(_pki.Directory, "empty.crt");
        File.WriteAllText(empty, "");

        Assert.Contains(missing, Refused(Options(tls => tls.CaFile = missing)).Message, StringComparison.Ordinal);
        Assert.Contains("holds no PEM certificate", Refused(Options(tls => tls.CaFile = empty)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_client_certificate_without_its_key_is_named()
    {
        var error = Refused(Options(tls => tls.ClientCertificateFile = _pki.ClientCertificateFile));

        Assert.Equal("StoreForwardOptions.Tls.ClientCertificateFile", error.ParamName);
        Assert.Contains(_pki.ClientCertificateFile, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_wrong_pkcs12_password_is_reported_without_the_password()
    {
        var error = Refused(Options(tls =>
        {
            tls.ClientCertificateFile = _pki.ClientPfxFile;
            tls.ClientCertificatePassword = "Wr0ng-pfx-secret";
        }));

        Assert.Contains(_pki.ClientPfxFile, error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("Wr0ng-pfx-secret", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void A_key_file_without_a_certificate_file_and_two_sources_of_one_thing_are_refused()
    {
        Assert.Equal("StoreForwardOptions.Tls.ClientKeyFile", Refused(Options(tls => tls.ClientKeyFile = _pki.ClientKeyFile)).ParamName);
        Assert.Equal("StoreForwardOptions.Tls.CaFile", Refused(Options(tls =>
        {
            tls.CaFile = _pki.CaFile;
            tls.CaCertificates = [];
        })).ParamName);
    }
}
