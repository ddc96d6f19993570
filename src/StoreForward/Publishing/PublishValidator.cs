using System.Text.Unicode;
using MQTTnet;
using MQTTnet.Protocol;
using StoreForward.Transport;

namespace StoreForward.Publishing;

/// <summary>
/// Checks a publish before anything is stored: a message that the broker can never accept must fail at the call, not
/// days later in the drain.
/// </summary>
internal static class PublishValidator
{
    /// <summary>
    /// Checks the topic, the QoS and the payload's length, before the payload is copied anywhere; a payload too large is
    /// reported against the caller's <paramref name="payloadParameter"/>.
    /// </summary>
    public static void Validate(string topic, long payloadLength, MqttQualityOfServiceLevel qos, int maxPayloadBytes, string payloadParameter)
    {
        MqttStrings.ValidateTopic(topic);
        if (qos is < MqttQualityOfServiceLevel.AtMostOnce or > MqttQualityOfServiceLevel.ExactlyOnce)
            throw new ArgumentOutOfRangeException(nameof(qos), qos, $"QoS must be 0, 1 or 2, but is {(int)qos}.");
        if (payloadLength > maxPayloadBytes)
            throw new ArgumentException($"The payload is {payloadLength} bytes, more than StoreForwardOptions.MaxPayloadBytes ({maxPayloadBytes}).", payloadParameter);
    }

    /// <summary>Checks what the <see cref="MqttApplicationMessage"/> overload adds to a publish: its MQTT 5 properties.</summary>
    public static void ValidateProperties(MqttApplicationMessage message)
    {
        if (message.TopicAlias != 0)
            throw new ArgumentException($"The message to '{MqttStrings.Shorten(message.Topic)}' has topic alias {message.TopicAlias}; an alias belongs to one connection and cannot be stored.", nameof(message));
        if (message.SubscriptionIdentifiers is { Count: > 0 })
            throw new ArgumentException($"The message to '{MqttStrings.Shorten(message.Topic)}' has subscription identifiers, which only a broker may send.", nameof(message));
        if (message.ResponseTopic is { } responseTopic)
        {
            try
            {
                MqttStrings.ValidateTopic(responseTopic);
            }
            catch (ArgumentException e)
            {
                throw new ArgumentException($"The response topic is not valid: {e.Message}", nameof(message), e);
            }
        }

        if (message.ContentType is { } contentType)
            ValidateString(contentType, "The content type", nameof(message));
        if (message.CorrelationData is { Length: > MqttStrings.MaxBytes } correlationData)
            throw new ArgumentException($"The correlation data is {correlationData.Length} bytes; MQTT allows at most {MqttStrings.MaxBytes}.", nameof(message));
        if (message.PayloadFormatIndicator is not (MqttPayloadFormatIndicator.Unspecified or MqttPayloadFormatIndicator.CharacterData))
            throw new ArgumentException($"The payload format indicator must be Unspecified or CharacterData, but is {(int)message.PayloadFormatIndicator}.", nameof(message));
        foreach (var property in message.UserProperties ?? [])
        {
            if (property.Name is null)
                throw new ArgumentException("A user property has no name.", nameof(message));
            ValidateString(property.Name, "A user property name", nameof(message));
            ValidateUtf8(property.ValueBuffer.Span, $"The value of user property '{MqttStrings.Shorten(property.Name)}'", nameof(message));
        }
    }

    private static void ValidateString(string value, string what, string parameter)
    {
        if (MqttStrings.Problem(value) is { } problem)
            throw new ArgumentException($"{what} {problem}.", parameter);
    }

    /// <summary>The same rules for a value given as UTF-8 bytes.</summary>
    private static void ValidateUtf8(ReadOnlySpan<byte> value, string what, string parameter)
    {
        if (value.Length > MqttStrings.MaxBytes)
            throw new ArgumentException($"{what} is {value.Length} bytes long; MQTT allows at most {MqttStrings.MaxBytes}.", parameter);
        if (!Utf8.IsValid(value))
            throw new ArgumentException($"{what} is not valid UTF-8.", parameter);
        if (value.Contains((byte)0))
            throw new ArgumentException($"{what} contains U+0000, which MQTT forbids.", parameter);
    }
}
