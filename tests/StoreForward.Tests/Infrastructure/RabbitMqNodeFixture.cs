using System.Diagnostics;

namespace StoreForward.Tests.Infrastructure;

/// <summary>
/// xunit class fixture: one <see cref="RabbitMqNode"/> for all tests of a class (a node takes 10-15 s to boot).
/// Tests that stop or kill it must start it again before they end. The node starts from the constructor, so the
/// fixtures of one class boot in parallel (xunit constructs all of them before it initializes the first);
/// <see cref="InitializeAsync"/> only waits for it.
/// </summary>
public sealed class RabbitMqNodeFixture : IAsyncLifetime
{
    private readonly Stopwatch _startTime = Stopwatch.StartNew();
    private readonly Task<RabbitMqNode> _starting;

    public RabbitMqNodeFixture() => _starting = Task.Run(() => RabbitMqNode.StartAsync());

    public RabbitMqNode Node { get; private set; } = null!;

    /// <summary>How long the node took to answer MQTT, from the fixture's construction.</summary>
    public TimeSpan StartDuration { get; private set; }

    public async Task InitializeAsync()
    {
        Node = await _starting;
        StartDuration = _startTime.Elapsed;
    }

    public async Task DisposeAsync()
    {
        // A failed start has cleaned up after itself (and InitializeAsync has reported it).
        await ((Task)_starting).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        if (_starting.IsCompletedSuccessfully)
        {
            await _starting.Result.DisposeAsync();
        }
    }
}
