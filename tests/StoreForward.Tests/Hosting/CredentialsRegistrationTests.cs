using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using StoreForward.Tests.Security;

namespace StoreForward.Tests.Hosting;

/// <summary>A credentials provider registered in the container reaches the publishers whose options give no credentials.</summary>
[Trait("Category", "Unit")]
public sealed class CredentialsRegistrationTests : IDisposable
{
    private readonly TestDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void The_provider_keyed_by_the_publishers_name_wins_then_the_unkeyed_one_and_static_credentials_stay()
    {
        var keyed = new TestCredentialsProvider((_, _) => new MqttCredentials("plant", "token"));
        var unkeyed = new TestCredentialsProvider((_, _) => new MqttCredentials("any", "token"));
        var services = new ServiceCollection();
        services.AddKeyedSingleton<IMqttCredentialsProvider>("plant", keyed);
        services.AddSingleton<IMqttCredentialsProvider>(unkeyed);
        services.AddStoreForward("plant", o => (o.ClientId, o.StorePath) = ("plant", _dir.File("plant.db")));
        services.AddStoreForward("office", o => (o.ClientId, o.StorePath) = ("office", _dir.File("office.db")));
        services.AddStoreForward("fixed", o => (o.ClientId, o.StorePath, o.Username, o.Password) = ("fixed", _dir.File("fixed.db"), "u", "p"));
        using var provider = services.BuildServiceProvider();

        var options = provider.GetRequiredService<IOptionsMonitor<StoreForwardOptions>>();

        Assert.Same(keyed, options.Get("plant").CredentialsProvider);
        Assert.Same(unkeyed, options.Get("office").CredentialsProvider);
        Assert.Null(options.Get("fixed").CredentialsProvider);
    }
}
