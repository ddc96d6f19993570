using MQTTnet.Protocol;

namespace StoreForward.LoadTest;

/// <summary>The QoS levels one report row covers, measured one after the other (never at once: they would share the CPU).</summary>
internal sealed class QosLevels : List<MqttQualityOfServiceLevel>
{
    public async Task<double[]> MeasureAsync(Func<MqttQualityOfServiceLevel, Task<double>> measure)
    {
        var results = new double[Count];
        for (var i = 0; i < Count; i++)
            results[i] = await measure(this[i]);
        return results;
    }
}
