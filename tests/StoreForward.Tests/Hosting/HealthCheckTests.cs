using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using StoreForward.Extensions.Hosting;
using StoreForward.Tests.EndToEnd;
using StoreForward.Tests.Infrastructure;

namespace StoreForward.Tests.Hosting;

/// <summary>
/// <see cref="StoreForwardHealthCheck"/> through a connected session, a broker outage with a stale backlog, and a full
/// disk; and registered in a host, one check per publisher.
/// </summary>
public sealed class HealthCheckTests : BrokerTest
{
    private static async Task<HealthCheckResult> CheckAsync(StoreForwardPublisher publisher, TimeSpan maxAge)
    {
        var check = new StoreForwardHealthCheck(publisher, Microsoft.Extensions.Options.Options.Create(new StoreForwardHostingOptions { HealthMaxOldestPendingAge = maxAge }));
        return await check.CheckHealthAsync(new HealthCheckContext { Registration = new HealthCheckRegistration("storeforward", check, HealthStatus.Unhealthy, null) });
    }

    [Fact]
    public async Task Healthy_when_delivering_degraded_while_disconnected_with_a_stale_backlog_and_unhealthy_while_the_store_fails()
    {
        var publisher = await StartPublisherAsync(Options());
        await publisher.PublishAsync("sf/data", Payload(0));
        await publisher.FlushAsync().WaitAsync(Patience);
        Assert.Equal(HealthStatus.Healthy, (await CheckAsync(publisher, TimeSpan.FromMinutes(5))).Status);

        await Broker.StopAsync();
        var deadline = DateTime.UtcNow + Patience;
        while (publisher.Status.IsConnected && DateTime.UtcNow < deadline)
            await Task.Delay(20);
        await publisher.PublishAsync("sf/data", Payload(1));
        var degraded = await CheckAsync(publisher, TimeSpan.Zero);
        Assert.Equal(HealthStatus.Degraded, degraded.Status);
        Assert.Contains("not connected to the broker", degraded.Description, StringComparison.Ordinal);
        Assert.Contains("the oldest pending message is", degraded.Description, StringComparison.Ordinal);
        Assert.Equal(1L, degraded.Data["pendingMessages"]);

        await publisher.SetStorageFaultsForTests(new Faults.FullDisk());
        await Assert.ThrowsAsync<OutboxStoreException>(() => publisher.PublishAsync("sf/data", Payload(2)));
        var unhealthy = await CheckAsync(publisher, TimeSpan.FromMinutes(5));
        Assert.Equal(HealthStatus.Unhealthy, unhealthy.Status);
        Assert.Contains("No space left on device", unhealthy.Description, StringComparison.Ordinal);

        await publisher.SetStorageFaultsForTests(null);
        await publisher.PublishAsync("sf/data", Payload(3));
        Assert.Equal(HealthStatus.Degraded, (await CheckAsync(publisher, TimeSpan.FromMinutes(5))).Status);
    }

    [Fact]
    public async Task Each_publisher_has_its_own_check_and_a_broker_down_degrades_only_the_check_of_its_publisher()
    {
        var builder = new HostApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.AddStoreForward(Like(Options(), null));
        builder.Services.AddStoreForward("plant", Like(Options(), "plant"));
        builder.Services.AddStoreForward("office", Like(Options(LoopbackPort.Unused()), "office"));
        builder.Services.Configure<StoreForwardHostingOptions>("office", o => o.HealthMaxOldestPendingAge = TimeSpan.Zero);
        builder.Services.AddHealthChecks()
            .AddCheck<StoreForwardHealthCheck>("storeforward")
            .AddStoreForward("plant")
            .AddStoreForward("office", checkName: "office-uplink", failureStatus: HealthStatus.Degraded, tags: ["uplink"]);
        using var host = builder.Build();
        await host.StartAsync();
        try
        {
            var unnamed = host.Services.GetRequiredService<StoreForwardPublisher>();
            var plant = host.Services.GetRequiredKeyedService<StoreForwardPublisher>("plant");
            await unnamed.PublishAsync("sf/data", Payload(0));
            await plant.PublishAsync("sf/data", Payload(1));
            await Task.WhenAll(unnamed.FlushAsync(), plant.FlushAsync()).WaitAsync(Patience);
            await host.Services.GetRequiredKeyedService<StoreForwardPublisher>("office").PublishAsync("sf/data", Payload(2));

            var report = await host.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync();

            Assert.Equal(["office-uplink", "storeforward", "storeforward-plant"], report.Entries.Keys.Order(StringComparer.Ordinal));
            Assert.Equal(HealthStatus.Healthy, report.Entries["storeforward"].Status);
            Assert.Equal(HealthStatus.Healthy, report.Entries["storeforward-plant"].Status);
            var office = report.Entries["office-uplink"];
            Assert.Equal(HealthStatus.Degraded, office.Status);
            Assert.Contains("not connected to the broker", office.Description, StringComparison.Ordinal);
            Assert.Contains("the oldest pending message is", office.Description, StringComparison.Ordinal);
            Assert.Equal(1L, office.Data["pendingMessages"]);
            Assert.Equal(["uplink"], office.Tags);
            var registration = host.Services.GetRequiredService<IOptions<HealthCheckServiceOptions>>().Value.Registrations.Single(r => r.Name == "office-uplink");
            Assert.Equal(HealthStatus.Degraded, registration.FailureStatus);
        }
        finally
        {
            await host.StopAsync();
        }
    }

    /// <summary>Sets <paramref name="template"/>'s values, with a client id and a store of the publisher's own.</summary>
    private Action<StoreForwardOptions> Like(StoreForwardOptions template, string? name) => options =>
    {
        options.ClientId = name is null ? ClientId : $"{ClientId}-{name}";
        options.Host = template.Host;
        options.Port = template.Port;
        options.StorePath = name is null ? StorePath : Directory.File(name + ".db");
        options.KeepAlive = template.KeepAlive;
        options.ReconnectInitialDelay = template.ReconnectInitialDelay;
        options.ReconnectMaxDelay = template.ReconnectMaxDelay;
    };
}
