using System.Text;
using System.Text.Unicode;
using MQTTnet;
using MQTTnet.Protocol;

namespace StoreForward.Publishing;

/// <summary>
/// Checks a publish before anything is stored: a message that the broker can never accept must fail at the call, not
/// days later in the drain.
/// </summary>
internal static class PublishValidator
{
    private const int MaxStringBytes = 65_535;

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

        if (message.ContentType is { } contentType)
            ValidateString(contentType, "The content type", nameof(message));
        if (message.CorrelationData is { Length: > MaxStringBytes } correlationData)
            throw new ArgumentException($"The correlation data is {correlationData.Length} bytes; MQTT allows at most {MaxStringBytes}.", nameof(message));
        if (message.PayloadFormatIndicator is not (MqttPayloadFormatIndicator.Unspecified or MqttPayloadFormatIndicator.CharacterData))
            throw new ArgumentException($"The payload format indicator must be Unspecified or CharacterData, but is {(int)message.PayloadFormatIndicator}.", nameof(message));
        foreach (var property in message.UserProperties ?? [])
        {
            if (property.Name is null)
                throw new ArgumentException("A user property has no name.", nameof(message));
            ValidateString(property.Name, "A user property name", nameof(message));
            ValidateUtf8(property.ValueBuffer.Span, $"The value of user property '{Shorten(property.Name)}'", nameof(message));
        }
    }

    /// <summary>A topic a publish may carry: not empty, no wildcards, and an MQTT string.</summary>
    public static void ValidateTopic(string topic)
    {
        ArgumentNullException.ThrowIfNull(topic);
        if (topic.Length == 0)
            throw new ArgumentException("The topic must not be empty.", nameof(topic));
        var wildcard = topic.AsSpan().IndexOfAny('+', '#');
        if (wildcard >= 0)
            throw new ArgumentException($"The topic '{Shorten(topic)}' contains the wildcard '{topic[wildcard]}' at position {wildcard}; wildcards are only allowed in subscriptions.", nameof(topic));
        if (StringProblem(topic) is { } problem)
            throw new ArgumentException($"The topic '{Shorten(topic)}' {problem}.", nameof(topic));
    }

    private static void ValidateString(string value, string what, string parameter)
    {
        if (StringProblem(value) is { } problem)
            throw new ArgumentException($"{what} {problem}.", parameter);
    }

    /// <summary>
    /// Why <paramref name="value"/> is not an MQTT UTF-8 string (MQTT 5, 1.5.4), or null: it must be well-formed UTF-16
    /// (so that it has a UTF-8 form), without U+0000, and at most 65,535 UTF-8 bytes. Anything else would be changed on the
    /// way to the store or refused by the broker. The message is built only for a bad value: topics are checked on every
    /// publish and every read from the store.
    /// </summary>
    private static string? StringProblem(string value)
    {
        for (var i = 0; i < value.Length; i++)
        {
            var c = value[i];
            switch (c)
            {
                case '\0':
                    return $"contains U+0000 at position {i}, which MQTT forbids";
                case >= '\uD800' and <= '\uDBFF' when i + 1 < value.Length && char.IsLowSurrogate(value[i + 1]):
                    i++;
                    break;
                case >= '\uD800' and <= '\uDFFF':
                    return $"contains an unpaired surrogate at position {i}, which is not valid UTF-8";
            }
        }

        // Worst case is 3 bytes per UTF-16 char; count exactly only when the value could be too long.
        if (value.Length * 3 > MaxStringBytes)
        {
            var bytes = Encoding.UTF8.GetByteCount(value);
            if (bytes > MaxStringBytes)
                return $"is {bytes} UTF-8 bytes long; MQTT allows at most {MaxStringBytes}";
        }

        return null;
    }

    /// <summary>The same rules for a value given as UTF-8 bytes.</summary>
    private static void ValidateUtf8(ReadOnlySpan<byte> value, string what, string parameter)
    {
        if (value.Length > MaxStringBytes)
            throw new ArgumentException($"{what} is {value.Length} bytes long; MQTT allows at most {MaxStringBytes}.", parameter);
        if (!Utf8.IsValid(value))
            throw new ArgumentException($"{what} is not valid UTF-8.", parameter);
        if (value.Contains((byte)0))
            throw new ArgumentException($"{what} contains U+0000, which MQTT forbids.", parameter);
    }

    private static string Shorten(string topic) => topic.Length <= 80 ? topic : string.Concat(topic.AsSpan(0, 77), "...");
}
