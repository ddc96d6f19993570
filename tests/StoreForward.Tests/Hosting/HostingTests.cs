using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using MQTTnet.Protocol;
using StoreForward.Tests.EndToEnd;
using StoreForward.Tests.Infrastructure;

namespace StoreForward.Tests.Hosting;

/// <summary><c>AddStoreForward</c> in a generic host: options from configuration, validated at start, flushed on shutdown.</summary>
public sealed class HostingTests : BrokerTest
{
    private static IHost BuildHost(Dictionary<string, string?> settings)
    {
        var builder = new HostApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(settings.ToDictionary(s => "StoreForward:" + s.Key, s => s.Value));
        builder.Services.AddStoreForward(builder.Configuration.GetSection("StoreForward"));
        return builder.Build();
    }

    private Dictionary<string, string?> Settings() => new()
    {
        ["ClientId"] = ClientId,
        ["Host"] = Broker.Host,
        ["Port"] = Broker.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["StorePath"] = StorePath,
        ["KeepAlive"] = "00:00:05",
        ["ShutdownFlushTimeout"] = "00:00:30",
    };

    [Fact]
    public async Task The_host_starts_the_publisher_from_configuration_and_shutdown_waits_until_the_broker_has_everything()
    {
        using (var host = BuildHost(Settings()))
        {
            await host.StartAsync();
            var publisher = host.Services.GetRequiredService<StoreForwardPublisher>();
            Assert.Same(publisher, host.Services.GetRequiredService<StoreForwardPublisher>());
            await PublishManyAsync(publisher, 0, 50, MqttQualityOfServiceLevel.AtLeastOnce);
            await host.StopAsync();
        }

        // Shutdown flushed: the broker had all of it before the store closed.
        await using (var reopened = await StoreForwardPublisher.StartAsync(TestOptions.Offline(StorePath, ClientId)))
            Assert.Equal(0, reopened.Status.PendingMessages);
        await Subscriber.WaitForCountAsync(m => m.Topic == "sf/data", 50, Patience);
        Assert.Equal(Enumerable.Range(0, 50), ReceivedIndexes().Order());
    }

    [Theory]
    [InlineData("ClientId", "")]
    [InlineData("Port", "0")]
    [InlineData("MaxPendingMessages", "0")]
    [InlineData("Servers:0", "mqtt://broker")]
    [InlineData("Presence:Topic", "plant/+/state")]
    [InlineData("MaxPublishRate", "0")]
    [InlineData("WebSocketProxy:Address", "proxy.plant:3128")]
    public async Task A_bad_option_fails_the_host_start_naming_it_and_creates_no_store(string name, string value)
    {
        var settings = Settings();
        if (name.StartsWith("Servers", StringComparison.Ordinal) || name.StartsWith("WebSocketProxy", StringComparison.Ordinal))
        {
            settings.Remove("Host");
            settings.Remove("Port");
            settings["Servers:0"] = "ws://127.0.0.1:1/mqtt";
        }

        settings[name] = value;
        using var host = BuildHost(settings);

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        Assert.Contains("StoreForwardOptions." + name.Replace(":0", "[0]", StringComparison.Ordinal).Replace(':', '.'), error.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(StorePath));
    }

    [Fact]
    public async Task Servers_bind_from_configuration_as_a_list()
    {
        var settings = Settings();
        settings.Remove("Host");
        settings.Remove("Port");
        settings["Servers:0"] = $"mqtt://127.0.0.1:{LoopbackPort.Unused()}";
        settings["Servers:1"] = $"127.0.0.1:{Broker.Port}";
        using var host = BuildHost(settings);
        await host.StartAsync();
        try
        {
            var publisher = host.Services.GetRequiredService<StoreForwardPublisher>();
            await publisher.PublishAsync("sf/data", Payload(0));
            await publisher.FlushAsync().WaitAsync(Patience);
            Assert.Equal($"mqtt://127.0.0.1:{Broker.Port}", publisher.Status.Server);
        }
        finally
        {
            await host.StopAsync();
        }
    }
}
