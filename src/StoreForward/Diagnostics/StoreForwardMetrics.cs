using System.Diagnostics.Metrics;
using StoreForward.Outbox;

namespace StoreForward.Diagnostics;

/// <summary>
/// The publisher's instruments on a <see cref="Meter"/> named <see cref="StoreForwardPublisher.MeterName"/>, one meter per
/// publisher, every measurement tagged with its ClientId. Recording costs an add when nobody listens.
/// </summary>
internal sealed class StoreForwardMetrics : ICommitObserver, IDisposable
{
    /// <summary>The meter's name, public as <see cref="StoreForwardPublisher.MeterName"/>.</summary>
    public const string MeterName = "StoreForward";

    private readonly Meter _meter = new(MeterName, typeof(StoreForwardMetrics).Assembly.GetName().Version?.ToString());
    private readonly KeyValuePair<string, object?> _client;
    private readonly Counter<long> _published;
    private readonly Counter<long> _acknowledged;
    private readonly Counter<long> _expired;
    private readonly Counter<long> _dropped;
    private readonly Counter<long> _deadLettered;
    private readonly Counter<long> _downgraded;
    private readonly Counter<long> _connects;
    private readonly Counter<long> _sessionsLost;
    private readonly Histogram<double> _commitDuration;
    private readonly Histogram<double> _deliveryDuration;

    public StoreForwardMetrics(string clientId, Func<OutboxSnapshot> snapshot, TimeProvider time)
    {
        _client = new("storeforward.client_id", clientId);
        _published = _meter.CreateCounter<long>("storeforward.messages.published", "{message}", "Messages stored by PublishAsync.");
        _acknowledged = _meter.CreateCounter<long>("storeforward.messages.acknowledged", "{message}", "Messages the broker acknowledged (PUBACK, PUBCOMP).");
        _expired = _meter.CreateCounter<long>("storeforward.messages.expired", "{message}", "Messages that expired before they were sent.");
        _dropped = _meter.CreateCounter<long>("storeforward.messages.dropped", "{message}", "Unsent messages dropped by OverflowPolicy.DropOldest.");
        _deadLettered = _meter.CreateCounter<long>("storeforward.messages.dead_lettered", "{message}", "Messages moved to the dead letters.");
        _downgraded = _meter.CreateCounter<long>("storeforward.messages.downgraded", "{message}", "Messages delivered below the QoS they were published with (a broker that answered QoS 2 with PUBACK, or QosAboveMaximum.Downgrade).");
        _connects = _meter.CreateCounter<long>("storeforward.connects", "{connection}", "Connections established with the broker, the first and every reconnect.");
        _sessionsLost = _meter.CreateCounter<long>("storeforward.sessions.lost", "{session}", "Reconnects on which the broker had lost the session.");
        _commitDuration = _meter.CreateHistogram<double>("storeforward.commit.duration", "s", "Time of one outbox commit, fsync included.");
        _deliveryDuration = _meter.CreateHistogram<double>("storeforward.delivery.duration", "s", "Time from a publish being stored to the broker's acknowledgement.");
        _meter.CreateObservableGauge("storeforward.pending.messages", () => new Measurement<long>(snapshot().PendingMessages, _client), "{message}", "Messages in the outbox.");
        _meter.CreateObservableGauge("storeforward.pending.bytes", () => new Measurement<long>(snapshot().PendingBytes, _client), "By", "Topic and payload bytes in the outbox.");
        _meter.CreateObservableGauge(
            "storeforward.pending.oldest_age",
            () => new Measurement<double>(snapshot().OldestAgeAt(time.GetUtcNow())?.TotalSeconds ?? 0, _client),
            "s",
            "Age of the oldest message in the outbox (0 when empty).");
    }

    public void Committed(TimeSpan duration, int published, int dropped)
    {
        _commitDuration.Record(duration.TotalSeconds, _client);
        if (published > 0)
            _published.Add(published, _client);
        if (dropped > 0)
            _dropped.Add(dropped, _client);
    }

    public void Acknowledged(DateTimeOffset storedAt, DateTimeOffset now)
    {
        _acknowledged.Add(1, _client);
        // Wall-clock times on both ends (the stored one survives restarts); a clock stepped back between them is not a
        // negative delivery time.
        _deliveryDuration.Record(Math.Max(0, (now - storedAt).TotalSeconds), _client);
    }

    public void Expired() => _expired.Add(1, _client);

    public void DeadLettered(int messages) => _deadLettered.Add(messages, _client);

    public void Downgraded() => _downgraded.Add(1, _client);

    /// <summary>A connection was established with <paramref name="server"/>, tagged with its address and port.</summary>
    public void Connected(Transport.BrokerEndpoint server) =>
        _connects.Add(1, _client, new("server.address", server.Host), new("server.port", server.Port));

    public void SessionLost() => _sessionsLost.Add(1, _client);

    public void Dispose() => _meter.Dispose();
}
