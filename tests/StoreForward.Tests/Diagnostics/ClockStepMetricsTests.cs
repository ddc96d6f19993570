using System.Diagnostics.Metrics;
using StoreForward.Diagnostics;
using StoreForward.Outbox;

namespace StoreForward.Tests.Diagnostics;

/// <summary>Wall-clock times on both ends of a measurement: a clock stepped back between them never gives a negative figure.</summary>
[Trait("Category", "Unit")]
public sealed class ClockStepMetricsTests
{
    [Fact]
    public void A_message_stored_after_the_clock_was_stepped_back_has_a_delivery_time_of_zero_not_a_negative_one()
    {
        var clientId = "clock-step-" + Guid.NewGuid().ToString("N");
        var recorded = new List<double>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == StoreForwardPublisher.MeterName && instrument.Name == "storeforward.delivery.duration")
                l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<double>((_, value, tags, _) =>
        {
            foreach (var tag in tags)
            {
                if (tag.Key == "storeforward.client_id" && (string?)tag.Value == clientId)
                    recorded.Add(value);
            }
        });
        listener.Start();
        var empty = new OutboxSnapshot(0, 0, 0, null, 0, 0, 0, 0, 0);
        using var metrics = new StoreForwardMetrics(clientId, () => empty, TimeProvider.System);
        var storedAt = DateTimeOffset.Parse("2026-12-03T12:00:00Z", System.Globalization.CultureInfo.InvariantCulture);

        metrics.Acknowledged(storedAt, storedAt.AddSeconds(-30));   // the clock went back 30 s in between
        metrics.Acknowledged(storedAt, storedAt.AddSeconds(2));

        Assert.Equal([0d, 2d], recorded);
    }
}
