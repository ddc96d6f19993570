using System.Globalization;
using System.Text;
using MQTTnet;

namespace StoreForward.Subscribing;

/// <summary>
/// The subscriber's half of end-to-end idempotency: drops repeats of messages stamped by publishers with
/// <see cref="StoreForwardOptions.StampMessageIdentity"/>, so that QoS 1 delivery (at least once) becomes processing
/// effectively once. Memory is bounded: a window of recent sequences per publisher, and a bounded number of publishers.
/// Thread-safe.
/// </summary>
/// <remarks>
/// A message is a repeat when its publisher's ClientId and sequence were seen before. Per publisher the filter keeps the
/// newest <c>window</c> sequences (one bit each); a sequence older than that is reported as a repeat. When more than
/// <c>maxPublishers</c> publishers are tracked, the one not heard from longest is forgotten, and its next message counts
/// as new. The state lives in memory: a subscriber that restarts starts empty (persist its processed positions with its
/// own data if repeats across its restarts matter).
/// </remarks>
public sealed class DuplicateFilter
{
    private readonly int _window;
    private readonly int _maxPublishers;
    private readonly Lock _lock = new();
    private readonly Dictionary<string, LinkedListNode<(string ClientId, SequenceWindow Seen)>> _publishers = new(StringComparer.Ordinal);
    private readonly LinkedList<(string ClientId, SequenceWindow Seen)> _byRecentUse = new();

    /// <summary>Creates a filter.</summary>
    /// <param name="window">Sequences remembered per publisher (rounded up to a multiple of 64; 65,536 take 8 KiB).</param>
    /// <param name="maxPublishers">Publishers remembered at once.</param>
    public DuplicateFilter(int window = 65_536, int maxPublishers = 1_000)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(window, 64);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxPublishers);
        _window = window;
        _maxPublishers = maxPublishers;
    }

    /// <summary>Publishers currently remembered.</summary>
    public int Publishers
    {
        get
        {
            lock (_lock)
                return _publishers.Count;
        }
    }

    /// <summary>
    /// Whether <paramref name="message"/> repeats one seen before. A message without the StoreForward identity (see
    /// <see cref="MessageIdentity"/>) is never a repeat: the filter passes what it cannot judge.
    /// </summary>
    public bool IsDuplicate(MqttApplicationMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        string? clientId = null;
        long sequence = 0;
        foreach (var property in message.UserProperties ?? [])
        {
            if (property.Name == MessageIdentity.ClientIdProperty)
                clientId = Encoding.UTF8.GetString(property.ValueBuffer.Span);
            else if (property.Name == MessageIdentity.SequenceProperty)
                _ = long.TryParse(Encoding.UTF8.GetString(property.ValueBuffer.Span), NumberStyles.None, CultureInfo.InvariantCulture, out sequence);
        }

        return clientId is not null && sequence > 0 && IsDuplicate(clientId, sequence);
    }

    /// <summary>Whether the message <paramref name="sequence"/> of publisher <paramref name="clientId"/> was seen before; records it.</summary>
    public bool IsDuplicate(string clientId, long sequence)
    {
        ArgumentNullException.ThrowIfNull(clientId);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(sequence);
        lock (_lock)
        {
            if (_publishers.TryGetValue(clientId, out var node))
            {
                _byRecentUse.Remove(node);
            }
            else
            {
                node = new LinkedListNode<(string, SequenceWindow)>((clientId, new SequenceWindow(_window)));
                _publishers[clientId] = node;
                if (_publishers.Count > _maxPublishers)
                {
                    var stalest = _byRecentUse.Last!;
                    _byRecentUse.RemoveLast();
                    _publishers.Remove(stalest.Value.ClientId);
                }
            }

            _byRecentUse.AddFirst(node);
            return node.Value.Seen.Seen(sequence);
        }
    }
}
