using System.Security.Cryptography;
using LiteDB;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using MQTTnet.Protocol;
using StoreForward.Tests.EndToEnd;

namespace StoreForward.Tests.Security;

/// <summary>An encrypted outbox against Mosquitto: delivered as a plain one, except a record altered on disk, which never is.</summary>
public sealed class EncryptionEndToEndTests : BrokerTest
{
    private static readonly byte[] Key = RandomNumberGenerator.GetBytes(32);

    private StoreForwardOptions Encrypted()
    {
        var options = Options();
        options.EncryptionKey = Key;
        return options;
    }

    [Fact]
    public async Task Delivers_exactly_once_and_reports_and_withholds_a_record_altered_while_the_app_was_stopped()
    {
        var offline = TestOptions.Offline(StorePath, ClientId);
        offline.EncryptionKey = Key;
        await using (var publisher = await StoreForwardPublisher.StartAsync(offline))
            await PublishManyAsync(publisher, 0, 20, MqttQualityOfServiceLevel.ExactlyOnce, producers: 1);

        // An attacker with the disk swaps the payloads of two messages: both are sealed, so the swap cannot go unnoticed.
        using (var db = new LiteDatabase(StorePath))
        {
            // Publishes one at a time are committed one at a time: a segment each.
            var segments = db.GetCollection("outbox");
            var (sixth, seventh) = (segments.FindById(6), segments.FindById(7));
            (sixth["m"][0]["e"], seventh["m"][0]["e"]) = (seventh["m"][0]["e"], sixth["m"][0]["e"]);
            segments.Update(sixth);
            segments.Update(seventh);
        }

        var logs = new FakeLoggerProvider();
        using var factory = LoggerFactory.Create(b => b.AddProvider(logs));
        var options = Encrypted();
        options.LoggerFactory = factory;
        var deadLettered = new List<DeadLetter>();
        var publisherOnline = await StartPublisherAsync(options);
        publisherOnline.MessageDeadLettered += (_, d) => { lock (deadLettered) deadLettered.Add(d); };
        await publisherOnline.FlushAsync().WaitAsync(Patience);

        await Subscriber.WaitForCountAsync(m => m.Topic == "sf/data", 18, Patience);
        await Subscriber.WaitForQuietAsync(TimeSpan.FromMilliseconds(500), Patience);
        Assert.Equal(Enumerable.Range(0, 20).Except([5, 6]), ReceivedIndexes().Order());
        Assert.Equal([6L, 7L], (await publisherOnline.GetDeadLettersAsync()).Where(d => d.Reason == DeadLetterReason.Unreadable).Select(d => d.Sequence));
        Assert.Equal(2, logs.Collector.GetSnapshot().Count(r => r.Id.Name == "RecordUnreadable" && r.Level == LogLevel.Error));
        Assert.Equal(0, publisherOnline.Status.PendingMessages);
        var deadline = DateTime.UtcNow + Patience;
        while (deadLettered.Count < 2 && DateTime.UtcNow < deadline)
            await Task.Delay(20);
        lock (deadLettered)
            Assert.All(deadLettered, d => Assert.Equal(DeadLetterReason.Unreadable, d.Reason));
    }

    [Fact]
    public async Task Messages_published_online_are_delivered_exactly_once_in_order()
    {
        var publisher = await StartPublisherAsync(Encrypted());

        var receipts = await PublishManyAsync(publisher, 0, 200, MqttQualityOfServiceLevel.ExactlyOnce);

        await AssertDeliveredAsync(0, receipts, exactlyOnce: true);
    }
}
