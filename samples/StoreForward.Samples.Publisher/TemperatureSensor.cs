using System.Buffers;
using System.Globalization;
using System.Text.Json;

namespace StoreForward.Samples.Publisher;

/// <summary>
/// A simulated temperature sensor: a slow sine around 21 °C plus a little noise. Each reading is a small JSON document,
/// for example <c>{"n":12,"t":21.53,"ts":"2026-11-24T12:00:00.000Z"}</c>, where <c>n</c> numbers the readings of this run.
/// </summary>
internal sealed class TemperatureSensor(TimeProvider clock)
{
    private static readonly TimeSpan Period = TimeSpan.FromMinutes(2);
    private readonly long _startedAt = clock.GetTimestamp();

    public ReadOnlyMemory<byte> Read(int n)
    {
        var phase = 2 * Math.PI * (clock.GetElapsedTime(_startedAt) / Period);
        var noise = (Random.Shared.NextDouble() - 0.5) * 0.2;
        var celsius = Math.Round(21.0 + 1.5 * Math.Sin(phase) + noise, 2);

        var buffer = new ArrayBufferWriter<byte>(64);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteNumber("n", n);
            json.WriteNumber("t", celsius);
            json.WriteString("ts", clock.GetUtcNow().UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture));
            json.WriteEndObject();
        }

        return buffer.WrittenMemory;
    }
}
