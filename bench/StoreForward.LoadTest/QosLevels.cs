using MQTTnet.Protocol;

namespace StoreForward.LoadTest;

/// <summary>
/// The QoS levels one report row covers, measured one after the other (never at once: they would share the CPU). Each
/// figure is the median of <c>repeat</c> runs, because a 2-core machine shared with the broker is noisy.
/// </summary>
internal sealed class QosLevels(int repeat) : List<MqttQualityOfServiceLevel>
{
    public async Task<double[]> MeasureAsync(Func<MqttQualityOfServiceLevel, Task<double>> measure)
    {
        var results = new double[Count];
        for (var i = 0; i < Count; i++)
            results[i] = await MedianAsync(() => measure(this[i]), r => r);
        return results;
    }

    /// <summary>The run whose <paramref name="key"/> is the median of <c>repeat</c> runs.</summary>
    public async Task<T> MedianAsync<T>(Func<Task<T>> measure, Func<T, double> key)
    {
        var runs = new List<T>(repeat);
        for (var run = 0; run < repeat; run++)
            runs.Add(await measure());
        return runs.OrderBy(key).ElementAt(runs.Count / 2);
    }
}
