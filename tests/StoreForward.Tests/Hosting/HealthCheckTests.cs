using Microsoft.Extensions.Diagnostics.HealthChecks;
using StoreForward.Extensions.Hosting;
using StoreForward.Tests.EndToEnd;

namespace StoreForward.Tests.Hosting;

/// <summary><see cref="StoreForwardHealthCheck"/> through a connected session, a broker outage with a stale backlog, and a full disk.</summary>
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
}
