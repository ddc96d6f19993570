using Microsoft.Extensions.Options;

namespace StoreForward.Extensions.Hosting;

/// <summary>
/// Starts one named publisher of the container, once: the hosted service starts it with the host, and a service resolved
/// before that (a hosted service's constructor, say) gets it started on the spot. Registered keyed by the publisher's
/// name, <see cref="Options.DefaultName"/> for the unnamed one.
/// </summary>
internal sealed class StoreForwardPublisherFactory(string name, StoreForwardRegistry registry, IOptionsMonitor<StoreForwardOptions> options) : IAsyncDisposable
{
    private readonly Lazy<Task<StoreForwardPublisher>> _publisher = new(() =>
    {
        registry.EnsureDistinctOutboxes(options);
        return StoreForwardPublisher.StartAsync(options.Get(name));
    });

    /// <summary>The publisher if it was started, else null.</summary>
    public StoreForwardPublisher? Started => _publisher.IsValueCreated && _publisher.Value.IsCompletedSuccessfully ? _publisher.Value.Result : null;

    public Task<StoreForwardPublisher> StartAsync(CancellationToken cancellationToken) => _publisher.Value.WaitAsync(cancellationToken);

    /// <summary>For the container's singleton registration, which cannot await: opening the store runs off this thread.</summary>
    public StoreForwardPublisher Get() => _publisher.Value.GetAwaiter().GetResult();

    public async ValueTask DisposeAsync()
    {
        if (Started is { } publisher)
            await publisher.DisposeAsync().ConfigureAwait(false);
    }
}
