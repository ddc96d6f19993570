using System.Globalization;
using MQTTnet.Protocol;

namespace StoreForward;

/// <summary>Why a message was set aside instead of delivered.</summary>
public enum DeadLetterReason
{
    /// <summary>The broker answered PUBACK or PUBREC with an error reason code (MQTT 5), for example 0x87 not authorised.</summary>
    RejectedByBroker = 1,

    /// <summary>The encoded PUBLISH is larger than the broker's Maximum Packet Size.</summary>
    PacketTooLarge = 2,

    /// <summary>The message's QoS is higher than the broker's Maximum QoS.</summary>
    QosNotSupported = 3,

    /// <summary>The message is retained but the broker does not support retained messages.</summary>
    RetainNotSupported = 4,

    /// <summary>
    /// The message was resent on <see cref="StoreForwardOptions.MaxDeliveryAttempts"/> connections after the first and never
    /// acknowledged, for example because the broker closes the connection whenever it gets it.
    /// </summary>
    MaxDeliveryAttemptsExceeded = 5,

    /// <summary>
    /// The stored record cannot be trusted: encrypted, it failed its integrity check (see
    /// <see cref="StoreForwardOptions.EncryptionKey"/>: altered on disk, or sealed with another key); in clear, it cannot
    /// be decoded (the store was damaged or altered). It was never published; its topic is empty, its payload is not
    /// available, and it cannot be requeued. <see cref="DeadLetter.Detail"/> says which.
    /// </summary>
    Unreadable = 6,
}

/// <summary>A message that left the outbox without delivery, kept in the store's dead-letter collection.</summary>
/// <remarks>
/// Only StoreForward makes dead letters (from the store, or as it sets a message aside), so there is no public
/// constructor. Two instances are equal only when they are the same object: a dead letter is named by its
/// <see cref="Sequence"/>, so compare those.
/// </remarks>
public sealed class DeadLetter
{
    internal DeadLetter(
        long sequence, string topic, DeadLetterReason reason, int? reasonCode, string detail,
        ReadOnlyMemory<byte> payload, MqttQualityOfServiceLevel qos, bool retain, DateTimeOffset storedAt)
    {
        Sequence = sequence;
        Topic = topic;
        Reason = reason;
        ReasonCode = reasonCode;
        Detail = detail;
        Payload = payload;
        Qos = qos;
        Retain = retain;
        StoredAt = storedAt;
    }

    /// <summary>The sequence from the message's <see cref="PublishReceipt"/>.</summary>
    public long Sequence { get; }

    /// <summary>The message's topic.</summary>
    public string Topic { get; }

    /// <summary>Why it was set aside.</summary>
    public DeadLetterReason Reason { get; }

    /// <summary>The broker's MQTT 5 reason code, when the broker gave one.</summary>
    public int? ReasonCode { get; }

    /// <summary>A human-readable explanation, including the broker's reason string when it sent one.</summary>
    public string Detail { get; }

    /// <summary>The message's payload, as it was published.</summary>
    public ReadOnlyMemory<byte> Payload { get; }

    /// <summary>The message's quality of service.</summary>
    public MqttQualityOfServiceLevel Qos { get; }

    /// <summary>Whether the message was published with retain.</summary>
    public bool Retain { get; }

    /// <summary>When the message was first stored (kept when it is requeued).</summary>
    public DateTimeOffset StoredAt { get; }

    /// <summary>The sequence, topic, reason (with the broker's code) and detail, for a log line; not the payload.</summary>
    public override string ToString() =>
        string.Create(
            CultureInfo.InvariantCulture,
            $"#{Sequence} '{Topic}': {Reason}{(ReasonCode is { } code ? $" (0x{code:X2})" : "")}: {Detail}");
}
