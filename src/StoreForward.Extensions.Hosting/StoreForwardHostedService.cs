using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace StoreForward.Extensions.Hosting;

/// <summary>
/// Starts the singleton publisher with the host (so a bad store or option fails the start) and, on shutdown, waits up to
/// <see cref="StoreForwardHostingOptions.ShutdownFlushTimeout"/> for the broker to acknowledge what is stored before it
/// closes the publisher.
/// </summary>
internal sealed class StoreForwardHostedService(StoreForwardPublisherFactory factory, IOptions<StoreForwardHostingOptions> hosting) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken) =>
        await factory.StartAsync(cancellationToken).ConfigureAwait(false);

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (factory.Started is not { } publisher)
            return;
        try
        {
            await publisher.FlushAsync(cancellationToken).WaitAsync(hosting.Value.ShutdownFlushTimeout, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is TimeoutException or OperationCanceledException)
        {
            // What is not acknowledged yet stays in the outbox for the next start.
        }

        await publisher.DisposeAsync().ConfigureAwait(false);
    }
}
