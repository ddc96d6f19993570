namespace StoreForward.Tests.Infrastructure;

/// <summary>
/// xunit class fixture: one <see cref="RabbitMqNode"/> for all tests of a class (a node takes 10-15 s to boot). Tests
/// that stop or kill it must start it again before they end.
/// </summary>
public sealed class RabbitMqNodeFixture() : BackgroundStartFixture<RabbitMqNode>(() => RabbitMqNode.StartAsync())
{
    public RabbitMqNode Node => Started;
}
