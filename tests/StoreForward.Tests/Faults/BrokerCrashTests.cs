using MQTTnet.Protocol;
using StoreForward.Tests.EndToEnd;
using StoreForward.Tests.Infrastructure;
using Xunit.Abstractions;

namespace StoreForward.Tests.Faults;

/// <summary>
/// Mosquitto is restarted again and again while 4 producers publish. A graceful restart (SIGTERM) saves the broker's
/// state, so nothing may be lost or doubled. A SIGKILL loses what the broker acknowledged since its last save: that loss
/// is the broker's, and is counted and reported rather than hidden (see docs/guarantees.md).
/// Cycles: STOREFORWARD_BROKER_CYCLES (default 10).
/// </summary>
[Trait("Category", "Fault")]
public sealed class BrokerCrashTests(ITestOutputHelper output)
    : BrokerTest(new MosquittoSettings { AutosaveInterval = 1, ExtraConfig = ["autosave_on_changes true"] })
{
    private static int Cycles =>
        int.TryParse(Environment.GetEnvironmentVariable("STOREFORWARD_BROKER_CYCLES"), System.Globalization.CultureInfo.InvariantCulture, out var cycles) ? cycles : 10;

    [Theory]
    [InlineData(MqttQualityOfServiceLevel.ExactlyOnce)]
    [InlineData(MqttQualityOfServiceLevel.AtLeastOnce)]
    public async Task Graceful_broker_restarts_mid_stream_lose_nothing_and_double_nothing(MqttQualityOfServiceLevel qos)
    {
        var (receipts, publisher) = await PublishThroughBrokerFaultsAsync(qos, () => Broker.RestartAsync());

        Assert.Equal(0, publisher.Status.SessionsLost);

        // Under restarts this rapid even mosquitto_sub reports some of the broker's DUP resends to it as new messages,
        // so exactly-once into the broker is judged by the broker's own intake; the subscriber proves nothing is lost.
        await AssertDeliveredAsync(0, receipts, exactlyOnce: false);
        var intake = BrokerIntake();
        var resent = Broker.LogLinesContaining($"Received PUBLISH from {ClientId} (d1,").Count();
        output.WriteLine($"graceful restarts x{Cycles}, QoS {(int)qos}: {receipts.Length} acknowledged, broker took in {intake}, {resent} DUP resends by the publisher");
        if (qos == MqttQualityOfServiceLevel.ExactlyOnce)
            Assert.Equal(receipts.Length, intake);
        else
            Assert.True(intake >= receipts.Length);
    }

    [Fact]
    public async Task Killed_broker_restarts_never_stall_the_drain_and_the_broker_side_loss_is_reported()
    {
        var (receipts, publisher) = await PublishThroughBrokerFaultsAsync(MqttQualityOfServiceLevel.ExactlyOnce, async () =>
        {
            await Broker.KillAsync();
            await Broker.StartAgainAsync();
        });

        await Subscriber.WaitForQuietAsync(TimeSpan.FromSeconds(1), Patience);
        var received = ReceivedIndexes();
        var lost = Enumerable.Range(0, receipts.Length).Except(received).Count();
        output.WriteLine($"SIGKILL x{Cycles}, QoS 2: {receipts.Length} acknowledged by PublishAsync and then by the broker " +
            $"(outbox empty); the broker took in {BrokerIntake()} (log lines survive its kills), the subscriber got {received.Distinct().Count()} distinct: " +
            $"{lost} lost by the broker, sessions lost {publisher.Status.SessionsLost}");

        // The client's part: everything left the outbox only after the broker acknowledged it, and the drain finished.
        Assert.Equal(0, publisher.Status.PendingMessages);
    }

    private async Task<(PublishReceipt[] Receipts, StoreForwardPublisher Publisher)> PublishThroughBrokerFaultsAsync(
        MqttQualityOfServiceLevel qos, Func<Task> fault)
    {
        var publisher = await StartPublisherAsync(Options());
        var publishing = PublishManyAsync(publisher, 0, 3000, qos);
        var random = new Random(Environment.TickCount);
        for (var cycle = 0; cycle < Cycles && !publishing.IsCompleted; cycle++)
        {
            await Task.Delay(random.Next(100, 400));
            await fault();
        }

        var receipts = await publishing;
        await publisher.FlushAsync().WaitAsync(Patience);
        return (receipts, publisher);
    }
}
