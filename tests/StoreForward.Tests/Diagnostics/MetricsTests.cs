using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using MQTTnet.Protocol;
using StoreForward.Tests.EndToEnd;

namespace StoreForward.Tests.Diagnostics;

/// <summary>The StoreForward meter as a <see cref="MeterListener"/> (what OpenTelemetry uses) sees it for one publisher.</summary>
public sealed class MetricsTests : BrokerTest
{
    /// <summary>Sums and counts of every measurement tagged with this test's ClientId (other tests publish in parallel).</summary>
    private sealed class Recorder : IDisposable
    {
        private readonly MeterListener _listener = new();
        private readonly string _clientId;

        public Recorder(string clientId)
        {
            _clientId = clientId;
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Name == StoreForwardPublisher.MeterName)
                    listener.EnableMeasurementEvents(instrument);
            };
            _listener.SetMeasurementEventCallback<long>((i, value, tags, _) => Record(i, value, tags));
            _listener.SetMeasurementEventCallback<double>((i, value, tags, _) => Record(i, value, tags));
            _listener.Start();
        }

        public ConcurrentDictionary<string, (double Sum, int Count, double Last)> Seen { get; } = new();

        /// <summary>The tags of each instrument's last measurement.</summary>
        public ConcurrentDictionary<string, Dictionary<string, object?>> LastTags { get; } = new();

        public (double Sum, int Count, double Last) this[string name] => Seen.GetValueOrDefault(name);

        public void Observe() => _listener.RecordObservableInstruments();

        private void Record(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            foreach (var tag in tags)
            {
                if (tag.Key == "storeforward.client_id" && Equals(tag.Value, _clientId))
                {
                    Seen.AddOrUpdate(instrument.Name, (value, 1, value), (_, s) => (s.Sum + value, s.Count + 1, value));
                    LastTags[instrument.Name] = tags.ToArray().ToDictionary(t => t.Key, t => t.Value);
                }
            }
        }

        public void Dispose() => _listener.Dispose();
    }

    [Fact]
    public async Task Publishing_and_delivering_report_counts_durations_and_the_pending_gauges()
    {
        using var recorder = new Recorder(ClientId);
        var publisher = await StartPublisherAsync(Options());

        await PublishManyAsync(publisher, 0, 20, MqttQualityOfServiceLevel.AtLeastOnce);
        await publisher.FlushAsync().WaitAsync(Patience);
        recorder.Observe();

        Assert.Equal(20, recorder["storeforward.messages.published"].Sum);
        Assert.Equal(20, recorder["storeforward.messages.acknowledged"].Sum);
        Assert.Equal(20, recorder["storeforward.delivery.duration"].Count);
        Assert.InRange(recorder["storeforward.delivery.duration"].Sum, 0, 20 * 60);
        Assert.True(recorder["storeforward.commit.duration"].Count >= 1);
        Assert.True(recorder["storeforward.connects"].Sum >= 1);
        Assert.Equal("127.0.0.1", recorder.LastTags["storeforward.connects"]["server.address"]);
        Assert.Equal(Broker.Port, recorder.LastTags["storeforward.connects"]["server.port"]);
        Assert.Equal(0, recorder["storeforward.messages.downgraded"].Sum);
        Assert.Equal(0, recorder["storeforward.pending.messages"].Last);
        Assert.Equal(0, recorder["storeforward.pending.bytes"].Last);
    }

    [Fact]
    public async Task Messages_delivered_below_their_QoS_are_counted_as_downgraded()
    {
        using var recorder = new Recorder(ClientId);
        var options = Options();
        options.BrokerMaximumQos = MqttQualityOfServiceLevel.AtLeastOnce;
        options.QosAboveMaximum = QosAboveMaximum.Downgrade;
        var publisher = await StartPublisherAsync(options);

        await PublishManyAsync(publisher, 0, 6, MqttQualityOfServiceLevel.ExactlyOnce);
        await PublishManyAsync(publisher, 6, 4, MqttQualityOfServiceLevel.AtLeastOnce);
        await publisher.FlushAsync().WaitAsync(Patience);

        Assert.Equal(6, recorder["storeforward.messages.downgraded"].Sum);
        Assert.Equal(10, recorder["storeforward.messages.acknowledged"].Sum);
        Assert.Equal(6, publisher.Status.Downgraded);
    }

    [Fact]
    public async Task Drops_and_the_backlog_of_an_outage_show_in_the_counters_and_gauges()
    {
        using var recorder = new Recorder(ClientId);
        await Broker.StopAsync();
        var options = Options();
        options.MaxPendingMessages = 5;
        options.OverflowPolicy = OverflowPolicy.DropOldest;
        var publisher = await StartPublisherAsync(options);

        await PublishManyAsync(publisher, 0, 8, MqttQualityOfServiceLevel.AtLeastOnce, producers: 1);
        recorder.Observe();

        Assert.Equal(8, recorder["storeforward.messages.published"].Sum);
        Assert.Equal(3, recorder["storeforward.messages.dropped"].Sum);
        Assert.Equal(5, recorder["storeforward.pending.messages"].Last);
        Assert.Equal(5 * ("sf/data".Length + 1), recorder["storeforward.pending.bytes"].Last);
        Assert.True(recorder["storeforward.pending.oldest_age"].Last >= 0);
        Assert.Equal(0, recorder["storeforward.messages.acknowledged"].Sum);
    }
}
