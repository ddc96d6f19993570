using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace StoreForward.Extensions.Hosting;

/// <summary>
/// Starts every registered publisher with the host (so a bad store or option fails the start) and, on shutdown, waits
/// for each, concurrently and each up to its own <see cref="StoreForwardHostingOptions.ShutdownFlushTimeout"/>, for the
/// broker to acknowledge what is stored before it closes the publisher. One service for all publishers, because the
/// host stops its services one after the other: a service per publisher would add up their flush timeouts.
/// </summary>
internal sealed class StoreForwardHostedService(
    StoreForwardRegistry registry, IServiceProvider services, IOptionsMonitor<StoreForwardHostingOptions> hosting) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        foreach (var name in registry.Names)
            await Factory(name).StartAsync(cancellationToken).ConfigureAwait(false);
    }

    public Task StopAsync(CancellationToken cancellationToken) =>
        Task.WhenAll(registry.Names.Select(name => StopAsync(name, cancellationToken)));

    private async Task StopAsync(string name, CancellationToken cancellationToken)
    {
        if (Factory(name).Started is not { } publisher)
            return;
        try
        {
            await publisher.FlushAsync(cancellationToken).WaitAsync(hosting.Get(name).ShutdownFlushTimeout, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is TimeoutException or OperationCanceledException)
        {
            // What is not acknowledged yet stays in the outbox for the next start.
        }

        await publisher.DisposeAsync().ConfigureAwait(false);
    }

    private StoreForwardPublisherFactory Factory(string name) => services.GetRequiredKeyedService<StoreForwardPublisherFactory>(name);
}
