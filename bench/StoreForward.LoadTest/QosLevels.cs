using MQTTnet.Protocol;

namespace StoreForward.LoadTest;

/// <summary>
/// The QoS levels one report row covers, measured one after the other (never at once: they would share the CPU). Each
/// figure is the median of <c>repeat</c> runs, because a 2-core machine shared with the broker is noisy.
/// </summary>
internal sealed class QosLevels(int repeat) : List<MqttQualityOfServiceLevel>
{
    /// <summary>The median of <c>repeat</c> runs per level.</summary>
    public async Task<double[]> MeasureAsync(Func<MqttQualityOfServiceLevel, Task<double>> measure)
    {
        var rounds = await RoundsAsync(measure);
        return [.. rounds.Select(Median)];
    }

    /// <summary><c>repeat</c> rounds per level, all of one level before the next: the results per level.</summary>
    public async Task<List<T>[]> RoundsAsync<T>(Func<MqttQualityOfServiceLevel, Task<T>> round)
    {
        var results = new List<T>[Count];
        for (var i = 0; i < Count; i++)
        {
            results[i] = new List<T>(repeat);
            for (var run = 0; run < repeat; run++)
                results[i].Add(await round(this[i]));
        }

        return results;
    }

    public static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted[sorted.Count / 2];
    }
}
