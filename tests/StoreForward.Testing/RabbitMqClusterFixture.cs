namespace StoreForward.Tests.Infrastructure;

/// <summary>
/// xunit class fixture: one two-node <see cref="RabbitMqCluster"/> for all tests of a class (forming it takes 15-20 s).
/// Tests that stop or kill a node must start it again before they end.
/// </summary>
public sealed class RabbitMqClusterFixture() : BackgroundStartFixture<RabbitMqCluster>(() => RabbitMqCluster.StartAsync(nodeCount: 2))
{
    public RabbitMqCluster Cluster => Started;

    public IReadOnlyList<RabbitMqNode> Nodes => Started.Nodes;
}
