using System.Buffers;
using System.Collections.Concurrent;
using System.Text;

namespace StoreForward.Samples.Publisher;

/// <summary>What the subscriber got, compared with what this run published.</summary>
internal enum Arrival
{
    /// <summary>A reading of this run, seen for the first time.</summary>
    New,

    /// <summary>A reading of this run seen before: QoS 1 is "at least once", so a resend after a reconnect can repeat it.</summary>
    Duplicate,

    /// <summary>Not published by this run: a retained value or a reading an earlier run left in the outbox.</summary>
    Earlier,
}

/// <summary>Checks that every reading this run published reached the subscriber.</summary>
internal sealed class DeliveryTally
{
    private readonly ConcurrentDictionary<string, int> _published = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<int, bool> _received = new();

    public int PublishedCount => _published.Count;

    public int ReceivedCount => _received.Count;

    public void Published(int n, ReadOnlyMemory<byte> payload) => _published[Encoding.UTF8.GetString(payload.Span)] = n;

    public void Withdraw(int n, ReadOnlyMemory<byte> payload) => _published.TryRemove(new(Encoding.UTF8.GetString(payload.Span), n));

    public Arrival Received(ReadOnlySequence<byte> payload)
    {
        // The payload text identifies a reading exactly: it carries the time stamp of this run's clock.
        if (!_published.TryGetValue(Encoding.UTF8.GetString(payload), out var n))
            return Arrival.Earlier;
        return _received.TryAdd(n, true) ? Arrival.New : Arrival.Duplicate;
    }

    /// <summary>Waits until every published reading was received, up to <paramref name="timeout"/>.</summary>
    public async Task<bool> WaitForAllAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (ReceivedCount < PublishedCount && DateTime.UtcNow < deadline)
            await Task.Delay(50, cancellationToken);
        return ReceivedCount >= PublishedCount;
    }
}
