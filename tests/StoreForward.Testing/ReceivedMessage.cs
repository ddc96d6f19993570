using System.Text;
using MQTTnet.Protocol;

namespace StoreForward.Tests.Infrastructure;

/// <summary>
/// One application message as delivered to a test subscriber. The payload is copied out of
/// MQTTnet's pooled buffer because that buffer is only valid inside the receive callback.
/// </summary>
/// <param name="Topic">Topic the message was published on.</param>
/// <param name="Payload">Copy of the payload bytes.</param>
/// <param name="Qos">QoS of the delivery (the lower of publish QoS and subscription QoS).</param>
/// <param name="Retain">True when the broker delivered it as a retained message (i.e. on subscribe).</param>
/// <param name="Dup">DUP flag of the delivery: the broker re-sent it after a lost acknowledgement.</param>
/// <param name="ReceivedAt">Local time the subscriber received it.</param>
public sealed record ReceivedMessage(
    string Topic,
    ReadOnlyMemory<byte> Payload,
    MqttQualityOfServiceLevel Qos,
    bool Retain,
    bool Dup,
    DateTimeOffset ReceivedAt)
{
    /// <summary>MQTT 5 content type (only an MQTTnet subscriber records the properties).</summary>
    public string? ContentType { get; init; }

    /// <summary>MQTT 5 payload format indicator.</summary>
    public MqttPayloadFormatIndicator PayloadFormat { get; init; }

    /// <summary>MQTT 5 response topic.</summary>
    public string? ResponseTopic { get; init; }

    /// <summary>MQTT 5 correlation data.</summary>
    public byte[]? CorrelationData { get; init; }

    /// <summary>MQTT 5 user properties, in order.</summary>
    public IReadOnlyList<(string Name, string Value)> UserProperties { get; init; } = [];

    /// <summary>MQTT 5 Message Expiry Interval as the broker forwarded it (0: none).</summary>
    public uint MessageExpiryInterval { get; init; }

    /// <summary>Payload decoded as UTF-8, for tests that publish text.</summary>
    public string PayloadText => Encoding.UTF8.GetString(Payload.Span);
}
