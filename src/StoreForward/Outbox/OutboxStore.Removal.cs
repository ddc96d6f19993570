using MQTTnet.Protocol;

namespace StoreForward.Outbox;

// Removing messages: acknowledged, expired, and the segment cache that knows when a segment empties.
internal sealed partial class OutboxStore
{
    /// <summary>
    /// Removes a message that the broker acknowledged (or a QoS 0 message about to be sent): the last live message of a
    /// segment deletes the segment, any other joins the removed set. Removing a removed message changes nothing and
    /// returns false.
    /// </summary>
    public bool Remove(OutboxMessage message)
    {
        var segment = message.SegmentFirst;
        if (_removed.Contains(message.Sequence) || !TryCountLive(message, out var live))
            return false;
        if (live == 1)
        {
            _messages.Delete(segment);
            if (_newest?.First == segment)
                _newest = null;
            _removed.RemoveRange(segment, message.SegmentLength);
            _liveInSegment.Remove(segment);
            if (_headSegment?.First == segment)
                _headSegment = null;
        }
        else
        {
            _removed.Add(message.Sequence);
            _liveInSegment[segment] = live - 1;
        }

        if (message.Qos == MqttQualityOfServiceLevel.ExactlyOnce)
            _released.Remove(message.Sequence);
        if (_attempts.Remove(message.Sequence))
            _attemptsChanged = true;
        _staged.Count--;

        // An unreadable message's size comes from its damaged record; the count must not go below what is left.
        _staged.Bytes = Math.Max(0, _staged.Bytes - message.Size);
        _headChanged = true;
        _dirty = true;
        return true;
    }

    /// <summary>How many messages of <paramref name="message"/>'s segment are live; false when the segment is gone.</summary>
    private bool TryCountLive(OutboxMessage message, out int live)
    {
        if (_liveInSegment.TryGetValue(message.SegmentFirst, out live))
            return true;
        if (!_messages.Exists(message.SegmentFirst))
            return false;
        live = LiveIn(message);
        return true;
    }

    /// <summary>How many messages of <paramref name="message"/>'s segment, which exists, the removed set leaves live.</summary>
    private int LiveIn(OutboxMessage message) => message.SegmentLength - _removed.CountIn(message.SegmentFirst, message.SegmentLength);

    private void ForgetCachedSegments()
    {
        _liveInSegment.Clear();
        _headSegment = null;
        _newest = null;
        _readEnd = null;
        ForgetUnsent();
    }

    /// <summary>Removes a message that expired before it was sent, and counts it.</summary>
    public void RemoveExpired(OutboxMessage message)
    {
        if (Remove(message))
            _staged.Expired++;
    }
}
