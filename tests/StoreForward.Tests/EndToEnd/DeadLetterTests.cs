using System.Text;
using MQTTnet.Protocol;
using StoreForward.Tests.Infrastructure;

namespace StoreForward.Tests.EndToEnd;

/// <summary>
/// Dead letters from Mosquitto's ACL refusal (MQTT 5 reason 0x87): they keep the whole message, page, purge, and go
/// back into the outbox once the ACL allows them.
/// </summary>
public sealed class DeadLetterTests : BrokerTest
{
    private static readonly string AclFile = Path.Combine(Path.GetTempPath(), "sf-dead-letters-" + Guid.NewGuid().ToString("N") + ".acl");

    public DeadLetterTests()
        : base(new MosquittoSettings { ExtraConfig = [$"acl_file {WriteAcl(allowDenied: false)}"] })
    {
    }

    /// <summary>The broker reads its ACL at start; each test starts with <c>sf/denied</c> refused.</summary>
    private static string WriteAcl(bool allowDenied)
    {
        File.WriteAllText(AclFile, "topic read sf/#\ntopic write sf/data\ntopic write sf/ready\n" + (allowDenied ? "topic write sf/denied\n" : ""));
        return AclFile;
    }

    private async Task AllowDeniedAsync()
    {
        await Broker.StopAsync();
        WriteAcl(allowDenied: true);
        await Broker.StartAgainAsync();
        await Subscriber.WaitUntilReceivingAsync();
    }

    [Fact]
    public async Task Dead_letters_keep_their_message_page_and_purge_and_a_requeue_delivers_them_once_the_broker_accepts_them()
    {
        var publisher = await StartPublisherAsync(Options());
        var first = await publisher.PublishAsync("sf/denied", Payload(1), MqttQualityOfServiceLevel.AtLeastOnce);
        var second = await publisher.PublishAsync("sf/denied", Payload(2), MqttQualityOfServiceLevel.ExactlyOnce, retain: true);
        var third = await publisher.PublishAsync("sf/denied", Payload(3));
        await publisher.FlushAsync().WaitAsync(Patience);

        var page = await publisher.GetDeadLettersAsync(max: 2);
        var rest = await publisher.GetDeadLettersAsync(max: 2, afterSequence: page[^1].Sequence);
        Assert.Equal([first.Sequence, second.Sequence, third.Sequence], page.Concat(rest).Select(d => d.Sequence));
        Assert.All(page.Concat(rest), d => Assert.Equal((DeadLetterReason.RejectedByBroker, (int?)0x87), (d.Reason, d.ReasonCode)));
        Assert.Equal("2", Encoding.UTF8.GetString(page[1].Payload.Span));
        Assert.Equal((MqttQualityOfServiceLevel.ExactlyOnce, true), (page[1].Qos, page[1].Retain));
        Assert.True(page[1].StoredAt <= second.StoredAt);

        Assert.Equal(1, await publisher.PurgeDeadLettersAsync([third.Sequence, 12345]));
        Assert.Equal(2, publisher.Status.DeadLetters);

        await AllowDeniedAsync();
        var requeued = await publisher.RequeueDeadLettersAsync();
        await publisher.FlushAsync().WaitAsync(Patience);

        Assert.Equal(2, requeued.Count);
        Assert.True(requeued[0].Sequence > third.Sequence && requeued[1].Sequence > requeued[0].Sequence);
        Assert.Equal(0, publisher.Status.DeadLetters);
        Assert.Empty(await publisher.GetDeadLettersAsync());
        await Subscriber.WaitForCountAsync(m => m.Topic == "sf/denied", 2, Patience);
        await Subscriber.WaitForQuietAsync(TimeSpan.FromMilliseconds(500), Patience);
        Assert.Equal([1, 2], ReceivedIndexes("sf/denied"));
    }

    [Fact]
    public async Task On_mqtt_311_the_broker_acknowledges_a_publish_its_acl_refuses_and_drops_it_so_nothing_here_can_tell()
    {
        var publisher = await StartPublisherAsync(Options(version: MQTTnet.Formatter.MqttProtocolVersion.V311));
        await publisher.PublishAsync("sf/denied", Payload(1), MqttQualityOfServiceLevel.AtLeastOnce);
        await publisher.PublishAsync("sf/data", Payload(2), MqttQualityOfServiceLevel.AtLeastOnce);
        await publisher.FlushAsync().WaitAsync(Patience);
        await Subscriber.WaitForCountAsync(m => m.Topic == "sf/data", 1, Patience);

        // Acknowledged (PUBACK), so it left the outbox as delivered; the broker logged the denial and forwarded nothing.
        Assert.Equal((0L, 0L), (publisher.Status.PendingMessages, publisher.Status.DeadLetters));
        Assert.DoesNotContain(Subscriber.Messages, m => m.Topic == "sf/denied");
        Assert.NotEmpty(Broker.LogLinesContaining($"Denied PUBLISH from {ClientId}"));
    }

    [Fact]
    public async Task A_requeue_that_does_not_fit_under_the_limits_moves_nothing()
    {
        var options = Options();
        options.MaxPendingMessages = 2;
        var publisher = await StartPublisherAsync(options);
        await publisher.PublishAsync("sf/denied", Payload(1));
        await publisher.PublishAsync("sf/denied", Payload(2));
        await publisher.FlushAsync().WaitAsync(Patience);
        await Broker.StopAsync();
        await publisher.PublishAsync("sf/data", Payload(3));

        var error = await Assert.ThrowsAsync<StoreFullException>(() => publisher.RequeueDeadLettersAsync());

        Assert.Contains("the 2 dead letters to requeue", error.Message, StringComparison.Ordinal);
        Assert.Contains("1 of at most 2 messages (MaxPendingMessages)", error.Message, StringComparison.Ordinal);
        Assert.Null(error.Topic);
        Assert.Equal(2, publisher.Status.DeadLetters);
        Assert.Equal(1, publisher.Status.PendingMessages);
    }
}
