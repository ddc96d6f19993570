using MQTTnet.Protocol;
using StoreForward.Tests.Faults;
using StoreForward.Tests.Infrastructure;

namespace StoreForward.Tests.EndToEnd;

/// <summary>
/// Presence against Mosquitto: a subscriber to the state topic always knows whether the publisher is connected. A killed
/// publisher turns offline through its Will, a restarted one online again, a graceful stop says offline itself, and a new
/// subscriber gets the current state retained, also after a broker restart.
/// </summary>
public sealed class PresenceTests : BrokerTest
{
    private string Topic => $"sf/presence/{ClientId}";

    [Fact]
    public async Task A_killed_publisher_turns_offline_through_its_will_and_online_again_when_it_restarts()
    {
        using (var host = CrashHostProcess.Start(StorePath, Broker.Port, ClientId, MqttQualityOfServiceLevel.AtLeastOnce, run: 1, presence: Topic, producers: 0))
        {
            await host.WaitUntilStartedAsync(Patience);
            await WaitForStateAsync("online", 1);
            await host.KillAsync();

            // SIGKILL sends no DISCONNECT: the broker publishes the Will.
            await WaitForStateAsync("offline", 1);
        }

        using var again = CrashHostProcess.Start(StorePath, Broker.Port, ClientId, MqttQualityOfServiceLevel.AtLeastOnce, run: 2, presence: Topic, producers: 0);
        await again.WaitUntilStartedAsync(Patience);
        await WaitForStateAsync("online", 2);
        Assert.Equal("online", (await LateSubscriberStateAsync()).PayloadText);
        await again.KillAsync();
        await WaitForStateAsync("offline", 2);
    }

    [Fact]
    public async Task With_a_will_delay_a_publisher_back_within_it_never_shows_offline()
    {
        using (var host = CrashHostProcess.Start(StorePath, Broker.Port, ClientId, MqttQualityOfServiceLevel.AtLeastOnce, run: 1, presence: Topic, producers: 0, willDelaySeconds: 30))
        {
            await host.WaitUntilStartedAsync(Patience);
            await WaitForStateAsync("online", 1);
            await host.KillAsync();
        }

        using var again = CrashHostProcess.Start(StorePath, Broker.Port, ClientId, MqttQualityOfServiceLevel.AtLeastOnce, run: 2, presence: Topic, producers: 0, willDelaySeconds: 30);
        await again.WaitUntilStartedAsync(Patience);
        await WaitForStateAsync("online", 2);
        await Subscriber.WaitForQuietAsync(TimeSpan.FromSeconds(1), Patience);

        Assert.DoesNotContain(Subscriber.Messages, m => m.Topic == Topic && m.PayloadText == "offline");
        await again.KillAsync();
    }

    [Fact]
    public async Task A_graceful_stop_publishes_offline_itself_and_the_broker_drops_the_will()
    {
        var options = Options();
        options.Presence = new PresenceOptions { Topic = Topic };
        var publisher = await StoreForwardPublisher.StartAsync(options);
        await WaitForStateAsync("online", 1);

        await publisher.DisposeAsync();

        await WaitForStateAsync("offline", 1);
        Assert.Contains(Broker.LogLinesContaining($"Received PUBLISH from {ClientId} (d0, q1, r1,"), line => line.Contains($"'{Topic}'", StringComparison.Ordinal));
        Assert.NotEmpty(Broker.LogLinesContaining($"Received DISCONNECT from {ClientId}"));
        await Subscriber.WaitForQuietAsync(TimeSpan.FromSeconds(1), Patience);
        Assert.Single(Subscriber.Messages, m => m.Topic == Topic && m.PayloadText == "offline");
        Assert.Equal("offline", (await LateSubscriberStateAsync()).PayloadText);
    }

    [Fact]
    public async Task After_a_broker_restart_a_new_subscriber_gets_the_current_state_retained()
    {
        var options = Options();
        options.Presence = new PresenceOptions { Topic = Topic };
        await using var publisher = await StartPublisherAsync(options);
        await WaitForStateAsync("online", 1);

        await Broker.RestartAsync();
        await Subscriber.WaitUntilReceivingAsync();
        await WaitForStateAsync("online", 2);

        var state = await LateSubscriberStateAsync();
        Assert.Equal("online", state.PayloadText);
        Assert.True(publisher.Status.IsConnected);
    }

    /// <summary>Waits until the test's subscriber has received <paramref name="payload"/> on the presence topic <paramref name="count"/> times.</summary>
    private async Task WaitForStateAsync(string payload, int count) =>
        Assert.True(
            await Subscriber.WaitForCountAsync(m => m.Topic == Topic && m.PayloadText == payload, count, Patience),
            $"'{payload}' did not arrive {count} times on {Topic}: {string.Join(", ", Subscriber.Messages.Where(m => m.Topic == Topic).Select(m => m.PayloadText))}");

    /// <summary>What a subscriber that comes now gets on the presence topic: the retained state.</summary>
    private async Task<ReceivedMessage> LateSubscriberStateAsync()
    {
        await using var late = await MosquittoSubscriber.StartAsync(Broker.Host, Broker.Port, "sf/presence/#", "sf-late-" + Guid.NewGuid().ToString("N")[..8]);
        Assert.True(await late.WaitForCountAsync(m => m.Topic == Topic, 1, Patience), "no retained state for a new subscriber");
        var state = late.Messages.First(m => m.Topic == Topic);
        Assert.True(state.Retain, "the state reached a new subscriber, but not as a retained message");
        return state;
    }
}
