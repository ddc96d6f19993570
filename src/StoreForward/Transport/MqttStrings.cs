using System.Text;

namespace StoreForward.Transport;

/// <summary>
/// MQTT's rules for UTF-8 strings and topic names (MQTT 5, 1.5.4 and 4.7), in one place: the publish is checked against
/// them before anything is stored, and every topic read back from the store again, so that a damaged record never reaches
/// the broker as an invalid PUBLISH.
/// </summary>
internal static class MqttStrings
{
    /// <summary>The longest MQTT string, in UTF-8 bytes.</summary>
    public const int MaxBytes = 65_535;

    /// <summary>A topic a publish may carry: not empty, no wildcards, and an MQTT string.</summary>
    public static void ValidateTopic(string topic)
    {
        ArgumentNullException.ThrowIfNull(topic);
        if (topic.Length == 0)
            throw new ArgumentException("The topic must not be empty.", nameof(topic));
        if (TopicProblem(topic) is { } problem)
            throw new ArgumentException($"The topic '{Shorten(topic)}' {problem}.", nameof(topic));
    }

    /// <summary>Why <paramref name="topic"/> cannot be a PUBLISH's topic name, or null (the rules of <see cref="ValidateTopic"/>).</summary>
    public static string? TopicProblem(string topic)
    {
        if (topic.Length == 0)
            return "must not be empty";
        var wildcard = topic.AsSpan().IndexOfAny('+', '#');
        return wildcard >= 0
            ? $"contains the wildcard '{topic[wildcard]}' at position {wildcard}; wildcards are only allowed in subscriptions"
            : Problem(topic);
    }

    /// <summary>
    /// Why <paramref name="value"/> is not an MQTT UTF-8 string (MQTT 5, 1.5.4), or null: it must be well-formed UTF-16
    /// (so that it has a UTF-8 form), without U+0000, and at most 65,535 UTF-8 bytes. Anything else would be changed on the
    /// way to the store or refused by the broker. The message is built only for a bad value: topics are checked on every
    /// publish and every read from the store.
    /// </summary>
    public static string? Problem(string value)
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
        if (value.Length * 3 > MaxBytes)
        {
            var bytes = Encoding.UTF8.GetByteCount(value);
            if (bytes > MaxBytes)
                return $"is {bytes} UTF-8 bytes long; MQTT allows at most {MaxBytes}";
        }

        return null;
    }

    /// <summary>A value cut to a length that fits in an error message.</summary>
    public static string Shorten(string value) => value.Length <= 80 ? value : string.Concat(value.AsSpan(0, 77), "...");
}
