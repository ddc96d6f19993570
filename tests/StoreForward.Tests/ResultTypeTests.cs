using System.Globalization;
using System.Reflection;
using MQTTnet.Protocol;
using StoreForward.Outbox;

namespace StoreForward.Tests;

/// <summary>
/// The types users read and never make (<see cref="DeadLetter"/>, <see cref="OutboxStatus"/>, <see cref="PublishReceipt"/>):
/// what their internal factories carry over, what they print, and the receipt's value equality, which is API.
/// </summary>
[Trait("Category", "Unit")]
public sealed class ResultTypeTests
{
    [Fact]
    public void A_dead_letter_carries_the_message_and_why_it_was_set_aside()
    {
        var storedAt = new DateTimeOffset(2025, 3, 1, 12, 0, 0, TimeSpan.Zero);
        var message = new OutboxMessage(42, "plant/line1", [1, 2, 3], MqttQualityOfServiceLevel.ExactlyOnce, retain: true, storedAt);

        var letter = message.ToDeadLetter(DeadLetterReason.RejectedByBroker, 0x87, "not authorised");

        Assert.Equal(
            (42L, "plant/line1", DeadLetterReason.RejectedByBroker, (int?)0x87, "not authorised", MqttQualityOfServiceLevel.ExactlyOnce, true, storedAt),
            (letter.Sequence, letter.Topic, letter.Reason, letter.ReasonCode, letter.Detail, letter.Qos, letter.Retain, letter.StoredAt));
        Assert.Equal(new byte[] { 1, 2, 3 }, letter.Payload.ToArray());
        Assert.Equal("#42 'plant/line1': RejectedByBroker (0x87): not authorised", letter.ToString());
    }

    [Fact]
    public void The_status_prints_every_figure_by_name()
    {
        var status = new OutboxStatus(
            pendingMessages: 3,
            pendingBytes: 120,
            oldestPendingAge: TimeSpan.FromSeconds(5),
            isConnected: true,
            deadLetters: 4,
            sessionsLost: 5,
            lastConnectionError: "refused",
            dropped: 6,
            discardedQos0: 7,
            downgraded: 8,
            server: "mqtt://broker:1883",
            expired: 9,
            superseded: 10,
            storeError: "disk full");

        // Every public figure, so that one added later cannot be left out of what users print.
        var text = status.ToString();
        foreach (var property in typeof(OutboxStatus).GetProperties(BindingFlags.Public | BindingFlags.Instance))
            Assert.Contains($"{property.Name} = {Convert.ToString(property.GetValue(status), CultureInfo.InvariantCulture)}", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Receipts_are_equal_when_sequence_and_commit_time_are()
    {
        var at = new DateTimeOffset(2025, 3, 1, 12, 0, 0, TimeSpan.Zero);
        var receipt = new PublishReceipt(7, at);

        Assert.True(receipt == new PublishReceipt(7, at));
        Assert.Equal(receipt.GetHashCode(), new PublishReceipt(7, at).GetHashCode());
        Assert.True(receipt != new PublishReceipt(8, at));
        Assert.True(receipt != new PublishReceipt(7, at.AddTicks(1)));
        Assert.False(receipt.Equals((object)7L));
        Assert.True(default(PublishReceipt).IsDiscarded);
        Assert.False(receipt.IsDiscarded);
    }
}
