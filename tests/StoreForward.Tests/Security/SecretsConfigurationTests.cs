using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace StoreForward.Tests.Security;

/// <summary>Credentials and TLS settings come from configuration, environment variables included, as secrets usually do.</summary>
[Trait("Category", "Unit")]
public sealed class SecretsConfigurationTests : IDisposable
{
    private readonly TestPki _pki = TestPki.Create();
    private readonly string _prefix = "SFTEST" + Guid.NewGuid().ToString("N")[..8] + "_";
    private readonly List<string> _variables = [];

    public void Dispose()
    {
        foreach (var variable in _variables)
            Environment.SetEnvironmentVariable(variable, null);
        _pki.Dispose();
    }

    private IHost Host(Dictionary<string, string> environment)
    {
        foreach (var (name, value) in environment)
        {
            _variables.Add(_prefix + name);
            Environment.SetEnvironmentVariable(_prefix + name, value);
        }

        var builder = new HostApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddEnvironmentVariables(_prefix);
        builder.Services.AddStoreForward(builder.Configuration.GetSection("StoreForward"));
        return builder.Build();
    }

    [Fact]
    public void User_password_tls_files_and_the_encryption_key_bind_from_environment_variables()
    {
        var key = System.Security.Cryptography.RandomNumberGenerator.GetBytes(32);
        using var host = Host(new()
        {
            ["StoreForward__EncryptionKey"] = Convert.ToBase64String(key),
            ["StoreForward__ClientId"] = "gateway-7",
            ["StoreForward__Username"] = "gateway",
            ["StoreForward__Password"] = "from-the-environment",
            ["StoreForward__Tls__Enabled"] = "true",
            ["StoreForward__Tls__CaFile"] = _pki.CaFile,
            ["StoreForward__Tls__TargetHost"] = TestPki.BrokerName,
            ["StoreForward__Tls__ClientCertificateFile"] = _pki.ClientPfxFile,
            ["StoreForward__Tls__ClientCertificatePassword"] = TestPki.PfxPassword,
        });

        var options = host.Services.GetRequiredService<IOptions<StoreForwardOptions>>().Value;

        Assert.Equal(("gateway", "from-the-environment"), (options.Username, options.Password));
        Assert.Equal(key, options.EncryptionKey);
        Assert.True(options.Tls.Enabled);
        Assert.Equal((_pki.CaFile, TestPki.BrokerName, _pki.ClientPfxFile, TestPki.PfxPassword), (options.Tls.CaFile, options.Tls.TargetHost, options.Tls.ClientCertificateFile, options.Tls.ClientCertificatePassword));
    }

    [Fact]
    public async Task A_tls_file_that_cannot_be_read_fails_the_host_start_naming_it_without_the_password()
    {
        using var host = Host(new()
        {
            ["StoreForward__ClientId"] = "gateway-7",
            ["StoreForward__StorePath"] = Path.Combine(_pki.Directory, "outbox.db"),
            ["StoreForward__Tls__Enabled"] = "true",
            ["StoreForward__Tls__ClientCertificateFile"] = _pki.ClientPfxFile,
            ["StoreForward__Tls__ClientCertificatePassword"] = "N0t-the-pfx-password",
        });

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        Assert.Contains("StoreForwardOptions.Tls.ClientCertificateFile", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("N0t-the-pfx-password", error.ToString(), StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(_pki.Directory, "outbox.db")));
    }
}
