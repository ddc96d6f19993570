namespace StoreForward.Publishing;

/// <summary>MQTT topic filters (<c>+</c> one level, <c>#</c> the rest), for options that select topics.</summary>
internal static class TopicFilter
{
    /// <summary>Whether <paramref name="topic"/> matches <paramref name="filter"/> as a broker would match a subscription.</summary>
    public static bool Matches(string filter, string topic)
    {
        // A wildcard at the first level does not match a topic starting with '$' (MQTT 4.7.2).
        if (topic.StartsWith('$') && filter.Length > 0 && filter[0] is '+' or '#')
            return false;

        var filterLevels = filter.Split('/');
        var topicLevels = topic.Split('/');
        for (var i = 0; i < filterLevels.Length; i++)
        {
            if (filterLevels[i] == "#")
                return true;
            if (i >= topicLevels.Length)
                return false;
            if (filterLevels[i] != "+" && filterLevels[i] != topicLevels[i])
                return false;
        }

        return filterLevels.Length == topicLevels.Length;
    }

    /// <summary>Why <paramref name="filter"/> is not a valid topic filter, or null when it is.</summary>
    public static string? Problem(string? filter)
    {
        if (string.IsNullOrEmpty(filter))
            return "a topic filter must not be empty";
        var levels = filter.Split('/');
        for (var i = 0; i < levels.Length; i++)
        {
            var level = levels[i];
            if (level.Contains('#', StringComparison.Ordinal) && (level != "#" || i != levels.Length - 1))
                return $"'{filter}': '#' must be a whole level and the last one";
            if (level.Contains('+', StringComparison.Ordinal) && level != "+")
                return $"'{filter}': '+' must be a whole level";
        }

        return filter.Contains('\0', StringComparison.Ordinal) ? $"'{filter}' contains U+0000" : null;
    }
}
