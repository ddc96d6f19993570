using System.Diagnostics;

namespace StoreForward.Tests.Infrastructure;

/// <summary>
/// xunit class fixture: one two-node <see cref="RabbitMqCluster"/> for all tests of a class (forming it takes
/// 15-20 s). Tests that stop or kill a node must start it again before they end. Like
/// <see cref="RabbitMqNodeFixture"/>, it starts from the constructor so that a class's fixtures boot in parallel.
/// </summary>
public sealed class RabbitMqClusterFixture : IAsyncLifetime
{
    private readonly Stopwatch _startTime = Stopwatch.StartNew();
    private readonly Task<RabbitMqCluster> _starting;

    public RabbitMqClusterFixture() => _starting = Task.Run(() => RabbitMqCluster.StartAsync(nodeCount: 2));

    public RabbitMqCluster Cluster { get; private set; } = null!;

    public IReadOnlyList<RabbitMqNode> Nodes => Cluster.Nodes;

    /// <summary>How long the cluster took to form (both nodes answering MQTT), from the fixture's construction.</summary>
    public TimeSpan StartDuration { get; private set; }

    public async Task InitializeAsync()
    {
        Cluster = await _starting;
        StartDuration = _startTime.Elapsed;
    }

    public async Task DisposeAsync()
    {
        await ((Task)_starting).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        if (_starting.IsCompletedSuccessfully)
        {
            await _starting.Result.DisposeAsync();
        }
    }
}
