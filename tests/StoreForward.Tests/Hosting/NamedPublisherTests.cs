using System.Globalization;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using MQTTnet.Protocol;
using StoreForward.Extensions.Hosting;
using StoreForward.Tests.EndToEnd;
using StoreForward.Tests.Infrastructure;

namespace StoreForward.Tests.Hosting;

/// <summary>
/// Several publishers in one host, keyed by name: each with its own options, store, validation and shutdown flush, and
/// side by side with the unnamed one.
/// </summary>
public sealed class NamedPublisherTests : BrokerTest
{
    private const string Plant = "plant";
    private const string Office = "office";

    /// <summary>A consumer that publishes through two named publishers, as an application class would.</summary>
    private sealed class TwoSitePublisher(
        [FromKeyedServices(Plant)] StoreForwardPublisher plant, [FromKeyedServices(Office)] StoreForwardPublisher office)
    {
        public StoreForwardPublisher Plant { get; } = plant;

        public StoreForwardPublisher Office { get; } = office;
    }

    private static HostApplicationBuilder Builder(Dictionary<string, string?> settings)
    {
        var builder = new HostApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(settings);
        return builder;
    }

    /// <summary>The settings of the publisher <paramref name="name"/> in section StoreForward:<paramref name="name"/>.</summary>
    private Dictionary<string, string?> Section(string name, int port, string? storePath = null) => new()
    {
        [$"StoreForward:{name}:ClientId"] = $"{ClientId}-{name}",
        [$"StoreForward:{name}:Host"] = Broker.Host,
        [$"StoreForward:{name}:Port"] = port.ToString(CultureInfo.InvariantCulture),
        [$"StoreForward:{name}:StorePath"] = storePath ?? Directory.File(name + ".db"),
        [$"StoreForward:{name}:KeepAlive"] = "00:00:05",
        [$"StoreForward:{name}:ReconnectInitialDelay"] = "00:00:00.100",
        [$"StoreForward:{name}:ReconnectMaxDelay"] = "00:00:01",
        [$"StoreForward:{name}:ShutdownFlushTimeout"] = "00:10:00",
    };

    private static Dictionary<string, string?> Merge(params Dictionary<string, string?>[] sections) =>
        sections.SelectMany(s => s).ToDictionary(s => s.Key, s => s.Value);

    private static void AddBoth(HostApplicationBuilder builder)
    {
        builder.Services.AddStoreForward(Plant, builder.Configuration.GetSection("StoreForward:" + Plant));
        builder.Services.AddStoreForward(Office, builder.Configuration.GetSection("StoreForward:" + Office));
    }

    private async Task<long> PendingInStoreAsync(string name)
    {
        await using var reopened = await StoreForwardPublisher.StartAsync(TestOptions.Offline(Directory.File(name + ".db"), $"{ClientId}-{name}"));
        return reopened.Status.PendingMessages;
    }

    /// <summary>How many PUBLISH packets on <paramref name="topic"/> the broker received from the client of publisher <paramref name="name"/>.</summary>
    private int PublishesFrom(string name, string topic) =>
        Broker.LogLinesContaining($"Received PUBLISH from {ClientId}-{name} (").Count(l => l.Contains($"'{topic}'", StringComparison.Ordinal));

    /// <summary>Both publish at once, plant QoS 1 and office QoS 2; each message arrives, sent under its own publisher's ClientId.</summary>
    private async Task AssertEachDeliversItsOwnAsync(StoreForwardPublisher plant, StoreForwardPublisher office, int count)
    {
        await Task.WhenAll(
            PublishManyAsync(plant, 0, count, MqttQualityOfServiceLevel.AtLeastOnce, topic: "sf/plant"),
            PublishManyAsync(office, 0, count, MqttQualityOfServiceLevel.ExactlyOnce, topic: "sf/office"));
        await Task.WhenAll(plant.FlushAsync(), office.FlushAsync()).WaitAsync(Patience);

        await AssertReceivedAsync("sf/plant", count);
        await AssertReceivedAsync("sf/office", count);
        Assert.Equal((count, 0), (PublishesFrom(Plant, "sf/plant"), PublishesFrom(Plant, "sf/office")));
        Assert.Equal((0, count), (PublishesFrom(Office, "sf/plant"), PublishesFrom(Office, "sf/office")));
    }

    private async Task AssertReceivedAsync(string topic, int count)
    {
        Assert.True(await Subscriber.WaitForCountAsync(m => m.Topic == topic, count, Patience), Subscriber.Errors);
        Assert.Equal(Enumerable.Range(0, count), ReceivedIndexes(topic).Distinct().Order());
    }

    [Fact]
    public async Task Two_named_publishers_bind_their_own_sections_and_deliver_under_their_own_client_ids_from_their_own_stores()
    {
        var settings = Merge(Section(Plant, Broker.Port), Section(Office, Broker.Port));
        settings[$"StoreForward:{Office}:ShutdownFlushTimeout"] = "00:00:42";
        var builder = Builder(settings);
        AddBoth(builder);
        using var host = builder.Build();
        await host.StartAsync();
        try
        {
            var plant = host.Services.GetRequiredKeyedService<StoreForwardPublisher>(Plant);
            var office = host.Services.GetRequiredKeyedService<StoreForwardPublisher>(Office);
            Assert.NotSame(plant, office);
            Assert.Same(plant, host.Services.GetRequiredKeyedService<StoreForwardPublisher>(Plant));
            Assert.Null(host.Services.GetService<StoreForwardPublisher>());
            Assert.Equal(Directory.File(Plant + ".db"), plant.StorePath);
            Assert.Equal(Directory.File(Office + ".db"), office.StorePath);
            var hosting = host.Services.GetRequiredService<IOptionsMonitor<StoreForwardHostingOptions>>();
            Assert.Equal(TimeSpan.FromMinutes(10), hosting.Get(Plant).ShutdownFlushTimeout);
            Assert.Equal(TimeSpan.FromSeconds(42), hosting.Get(Office).ShutdownFlushTimeout);

            await AssertEachDeliversItsOwnAsync(plant, office, 20);
        }
        finally
        {
            await host.StopAsync();
        }
    }
    [Fact]
    public async Task A_consumer_gets_each_named_publisher_injected_with_FromKeyedServices()
    {
        var builder = Builder(Merge(Section(Plant, Broker.Port), Section(Office, Broker.Port)));
        AddBoth(builder);
        builder.Services.AddSingleton<TwoSitePublisher>();
        using var host = builder.Build();
        await host.StartAsync();
        try
        {
            var consumer = host.Services.GetRequiredService<TwoSitePublisher>();
            Assert.Same(host.Services.GetRequiredKeyedService<StoreForwardPublisher>(Plant), consumer.Plant);
            Assert.Same(host.Services.GetRequiredKeyedService<StoreForwardPublisher>(Office), consumer.Office);
            await consumer.Plant.PublishAsync("sf/plant", Payload(0));
            await consumer.Office.PublishAsync("sf/office", Payload(0));
            await Task.WhenAll(consumer.Plant.FlushAsync(), consumer.Office.FlushAsync()).WaitAsync(Patience);
            Assert.Equal((1, 1), (PublishesFrom(Plant, "sf/plant"), PublishesFrom(Office, "sf/office")));
        }
        finally
        {
            await host.StopAsync();
        }
    }

    [Fact]
    public async Task The_unnamed_publisher_and_a_named_one_live_side_by_side_and_the_registry_lists_both()
    {
        var settings = Section(Plant, Broker.Port);
        settings["StoreForward:ClientId"] = ClientId;
        settings["StoreForward:Host"] = Broker.Host;
        settings["StoreForward:Port"] = Broker.Port.ToString(CultureInfo.InvariantCulture);
        settings["StoreForward:StorePath"] = StorePath;
        var builder = Builder(settings);
        builder.Services.AddStoreForward(builder.Configuration.GetSection("StoreForward"));
        builder.Services.AddStoreForward(Plant, options =>
        {
            options.ClientId = $"{ClientId}-{Plant}";
            options.Host = Broker.Host;
            options.Port = Broker.Port;
            options.StorePath = Directory.File(Plant + ".db");
        });
        using var host = builder.Build();
        await host.StartAsync();
        try
        {
            var unnamed = host.Services.GetRequiredService<StoreForwardPublisher>();
            var plant = host.Services.GetRequiredKeyedService<StoreForwardPublisher>(Plant);
            Assert.NotSame(unnamed, plant);
            Assert.Equal([Microsoft.Extensions.Options.Options.DefaultName, Plant], host.Services.GetRequiredService<StoreForwardRegistry>().Names);
            await unnamed.PublishAsync("sf/data", Payload(0));
            await plant.PublishAsync("sf/plant", Payload(0));
            await Task.WhenAll(unnamed.FlushAsync(), plant.FlushAsync()).WaitAsync(Patience);
            Assert.Single(PublishesFromPublisher());
            Assert.Equal(1, PublishesFrom(Plant, "sf/plant"));
        }
        finally
        {
            await host.StopAsync();
        }
    }

    [Fact]
    public async Task A_bad_option_of_a_named_publisher_fails_the_start_naming_the_publisher_and_the_option()
    {
        var settings = Merge(Section(Plant, Broker.Port), Section(Office, Broker.Port));
        settings[$"StoreForward:{Office}:MaxInFlight"] = "0";
        var builder = Builder(settings);
        AddBoth(builder);
        using var host = builder.Build();

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        Assert.Equal(Office, error.OptionsName);
        Assert.Contains("StoreForward publisher 'office': StoreForwardOptions.MaxInFlight", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(Plant, error.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(Directory.File(Plant + ".db")));
        Assert.False(File.Exists(Directory.File(Office + ".db")));
    }

    [Fact]
    public async Task Two_named_publishers_may_share_one_store_and_each_delivers_its_own_messages_under_its_own_ClientId()
    {
        var path = Directory.File("shared.db");
        var builder = Builder(Merge(Section(Plant, Broker.Port, path), Section(Office, Broker.Port, path)));
        AddBoth(builder);
        using var host = builder.Build();
        await host.StartAsync();
        try
        {
            await AssertEachDeliversItsOwnAsync(
                host.Services.GetRequiredKeyedService<StoreForwardPublisher>(Plant),
                host.Services.GetRequiredKeyedService<StoreForwardPublisher>(Office),
                50);
        }
        finally
        {
            await host.StopAsync();
        }

        Assert.False(File.Exists(Directory.File(Plant + ".db")));
    }

    [Fact]
    public async Task Two_publishers_with_one_ClientId_on_one_store_are_refused_naming_both_and_the_path_before_either_opens_it()
    {
        var path = Directory.File("shared.db");
        var spelledOtherwise = Path.Combine(Path.GetDirectoryName(path)!, ".", "shared.db");
        var office = Section(Office, Broker.Port, spelledOtherwise);
        office[$"StoreForward:{Office}:ClientId"] = $"{ClientId}-{Plant}";
        var builder = Builder(Merge(Section(Plant, Broker.Port, path), office));
        AddBoth(builder);
        using var host = builder.Build();

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => host.StartAsync());

        Assert.Contains($"'{path}' with the ClientId '{ClientId}-{Plant}'", error.Message, StringComparison.Ordinal);
        Assert.Contains("StoreForward publisher 'plant'", error.Message, StringComparison.Ordinal);
        Assert.Contains("StoreForward publisher 'office'", error.Message, StringComparison.Ordinal);
        // Resolved before the hosted service starts it, a publisher is refused the same way.
        Assert.Throws<InvalidOperationException>(() => host.Services.GetRequiredKeyedService<StoreForwardPublisher>(Office));
        Assert.False(File.Exists(path));
    }

    [Fact]
    public void A_name_registered_twice_is_refused_at_registration()
    {
        var services = new ServiceCollection();
        services.AddStoreForward(Plant, o => o.ClientId = "a");
        services.AddStoreForward(o => o.ClientId = "b");
        var count = services.Count;

        var named = Assert.Throws<InvalidOperationException>(() => services.AddStoreForward(Plant, o => o.ClientId = "c"));
        var unnamed = Assert.Throws<InvalidOperationException>(() => services.AddStoreForward(o => o.ClientId = "d"));

        Assert.Contains("StoreForward publisher 'plant'", named.Message, StringComparison.Ordinal);
        Assert.Contains("the unnamed StoreForward publisher", unnamed.Message, StringComparison.Ordinal);
        Assert.Equal(count, services.Count);
    }

    [Theory]
    [InlineData(Plant)]
    [InlineData(Office)]
    public async Task Shutdown_flushes_every_publisher_concurrently(string held)
    {
        // Both brokers are unreachable until shutdown begins, so what each publisher delivers it delivers while the host
        // waits for it. Then one broker stays away until the other publisher has flushed and closed its store: had that
        // publisher waited for the held one (in either order), it would never close.
        var other = held == Plant ? Office : Plant;
        await using var heldLink = MqttTcpProxy.Start(Broker.Host, Broker.Port);
        await using var otherLink = MqttTcpProxy.Start(Broker.Host, Broker.Port);
        heldLink.RefuseConnections = true;
        otherLink.RefuseConnections = true;
        var builder = Builder(Merge(Section(held, heldLink.Port), Section(other, otherLink.Port)));
        AddBoth(builder);
        using var host = builder.Build();
        await host.StartAsync();
        await PublishBacklogAsync(host);
        host.Services.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping.Register(() => otherLink.RefuseConnections = false);

        var stopping = host.StopAsync();
        await Eventually.TrueAsync(() => StoreIsClosed(other), $"the {other} publisher closed its store", Patience);
        Assert.False(stopping.IsCompleted, $"the host stopped without waiting for the {held} publisher");
        heldLink.RefuseConnections = false;
        await stopping.WaitAsync(Patience);

        Assert.Equal((0, 0), (await PendingInStoreAsync(Plant), await PendingInStoreAsync(Office)));
        await AssertReceivedAsync("sf/plant", 20);
        await AssertReceivedAsync("sf/office", 20);
    }

    [Fact]
    public async Task Each_publisher_gives_up_flushing_after_its_own_ShutdownFlushTimeout()
    {
        // The plant's broker never comes back and the plant allows itself no time; the office's is back once shutdown
        // begins. Everything else, including the unnamed hosting options and the host's own shutdown timeout, would wait
        // far longer than the test does.
        await using var plantLink = MqttTcpProxy.Start(Broker.Host, Broker.Port);
        await using var officeLink = MqttTcpProxy.Start(Broker.Host, Broker.Port);
        plantLink.RefuseConnections = true;
        officeLink.RefuseConnections = true;
        var settings = Merge(Section(Plant, plantLink.Port), Section(Office, officeLink.Port));
        settings[$"StoreForward:{Plant}:ShutdownFlushTimeout"] = "00:00:00.001";
        var builder = Builder(settings);
        AddBoth(builder);
        builder.Services.Configure<StoreForwardHostingOptions>(o => o.ShutdownFlushTimeout = TimeSpan.FromMinutes(10));
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = Timeout.InfiniteTimeSpan);
        using var host = builder.Build();
        await host.StartAsync();
        await PublishBacklogAsync(host);
        host.Services.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping.Register(() => officeLink.RefuseConnections = false);

        await host.StopAsync().WaitAsync(Patience);

        // What the plant could not deliver stays in its outbox for the next start.
        Assert.Equal((20, 0), (await PendingInStoreAsync(Plant), await PendingInStoreAsync(Office)));
        await AssertReceivedAsync("sf/office", 20);
    }

    private static async Task PublishBacklogAsync(IHost host)
    {
        await PublishManyAsync(host.Services.GetRequiredKeyedService<StoreForwardPublisher>(Plant), 0, 20, MqttQualityOfServiceLevel.AtLeastOnce, topic: "sf/plant");
        await PublishManyAsync(host.Services.GetRequiredKeyedService<StoreForwardPublisher>(Office), 0, 20, MqttQualityOfServiceLevel.ExactlyOnce, topic: "sf/office");
    }

    /// <summary>True once no publisher holds the store of <paramref name="name"/>: the store file is opened exclusively.</summary>
    private bool StoreIsClosed(string name)
    {
        try
        {
            using var file = new FileStream(Directory.File(name + ".db"), FileMode.Open, FileAccess.ReadWrite, FileShare.None);
            return true;
        }
        catch (IOException)
        {
            return false;
        }
    }
}
