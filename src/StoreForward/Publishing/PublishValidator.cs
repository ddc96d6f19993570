using System.Text;
using MQTTnet;
using MQTTnet.Protocol;

namespace StoreForward.Publishing;

/// <summary>
/// Checks a publish before anything is stored: a message that the broker can never accept must fail at the call, not
/// days later in the drain.
/// </summary>
internal static class PublishValidator
{
    private const int MaxTopicBytes = 65_535;

    /// <summary>
    /// Checks the topic, the QoS and the payload's length, before the payload is copied anywhere; a payload too large is
    /// reported against the caller's <paramref name="payloadParameter"/>.
    /// </summary>
    public static void Validate(string topic, long payloadLength, MqttQualityOfServiceLevel qos, int maxPayloadBytes, string payloadParameter)
    {
        ValidateTopic(topic);
        if (qos is < MqttQualityOfServiceLevel.AtMostOnce or > MqttQualityOfServiceLevel.ExactlyOnce)
            throw new ArgumentOutOfRangeException(nameof(qos), qos, $"QoS must be 0, 1 or 2, but is {(int)qos}.");
        if (payloadLength > maxPayloadBytes)
            throw new ArgumentException($"The payload is {payloadLength} bytes, more than StoreForwardOptions.MaxPayloadBytes ({maxPayloadBytes}).", payloadParameter);
    }

    /// <summary>Checks what the <see cref="MqttApplicationMessage"/> overload adds to a publish: its MQTT 5 properties.</summary>
    public static void ValidateProperties(MqttApplicationMessage message)
    {
        if (message.TopicAlias != 0)
            throw new ArgumentException($"The message to '{Shorten(message.Topic)}' has topic alias {message.TopicAlias}; an alias belongs to one connection and cannot be stored.", nameof(message));
        if (message.SubscriptionIdentifiers is { Count: > 0 })
            throw new ArgumentException($"The message to '{Shorten(message.Topic)}' has subscription identifiers, which only a broker may send.", nameof(message));
        if (message.ResponseTopic is { } responseTopic)
        {
            try
            {
                ValidateTopic(responseTopic);
            }
            catch (ArgumentException e)
            {
                throw new ArgumentException($"The response topic is not valid: {e.Message}", nameof(message), e);
            }
        }

        if (message.PayloadFormatIndicator is not (MqttPayloadFormatIndicator.Unspecified or MqttPayloadFormatIndicator.CharacterData))
            throw new ArgumentException($"The payload format indicator must be Unspecified or CharacterData, but is {(int)message.PayloadFormatIndicator}.", nameof(message));
        foreach (var property in message.UserProperties ?? [])
        {
            if (property.Name is null || property.Name.Contains('\0', StringComparison.Ordinal))
                throw new ArgumentException($"A user property name is missing or contains U+0000, which MQTT forbids.", nameof(message));
        }
    }

    public static void ValidateTopic(string topic)
    {
        ArgumentNullException.ThrowIfNull(topic);
        if (topic.Length == 0)
            throw new ArgumentException("The topic must not be empty.", nameof(topic));

        for (var i = 0; i < topic.Length; i++)
        {
            var c = topic[i];
            switch (c)
            {
                case '+' or '#':
                    throw new ArgumentException($"The topic '{Shorten(topic)}' contains the wildcard '{c}' at position {i}; wildcards are only allowed in subscriptions.", nameof(topic));
                case '\0':
                    throw new ArgumentException($"The topic '{Shorten(topic)}' contains U+0000 at position {i}, which MQTT forbids.", nameof(topic));
                case >= '\uD800' and <= '\uDBFF' when i + 1 < topic.Length && char.IsLowSurrogate(topic[i + 1]):
                    i++;
                    break;
                case >= '\uD800' and <= '\uDFFF':
                    throw new ArgumentException($"The topic '{Shorten(topic)}' contains an unpaired surrogate at position {i}, which is not valid UTF-8.", nameof(topic));
            }
        }

        // Worst case is 3 bytes per UTF-16 char; count exactly only when the topic could be too long.
        if (topic.Length * 3 > MaxTopicBytes)
        {
            var bytes = Encoding.UTF8.GetByteCount(topic);
            if (bytes > MaxTopicBytes)
                throw new ArgumentException($"The topic is {bytes} UTF-8 bytes long; MQTT allows at most {MaxTopicBytes}.", nameof(topic));
        }
    }

    private static string Shorten(string topic) => topic.Length <= 80 ? topic : string.Concat(topic.AsSpan(0, 77), "...");
}
