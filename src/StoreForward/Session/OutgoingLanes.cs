using MQTTnet.Packets;

namespace StoreForward.Session;

/// <summary>The two orders the sender keeps: MQTT orders packets of a kind, never across kinds.</summary>
internal enum Lane
{
    /// <summary>PUBLISH packets, in sequence order.</summary>
    Publishes = 0,

    /// <summary>PUBREL packets in the order of their PUBRECs, and answers to inbound publishes.</summary>
    Answers = 1,
}

/// <summary>One turn's packets of one lane, and the commit they must wait for, if any.</summary>
internal sealed record OutgoingPackets(Lane Lane, IReadOnlyList<MqttPacket> Packets, Task<bool>? MustLand);

/// <summary>
/// The sender's queues: packets leave in order within a lane, and a lane waits while the commit its head depends on is
/// not durable, without holding back the other lane. A QoS 2 drain is why: the publishes that refill the window must not
/// wait behind PUBRELs that wait for their PUBREC's fsync.
/// </summary>
internal sealed class OutgoingLanes
{
    private readonly Queue<OutgoingPackets>[] _lanes = [new(), new()];

    public void Enqueue(OutgoingPackets packets) => _lanes[(int)packets.Lane].Enqueue(packets);

    /// <summary>
    /// Moves every packet that may go now into <paramref name="ready"/>, publishes first, each lane in order, and returns a
    /// commit that still holds a lane back, or null. Throws the error of a commit that failed: nothing that depends on it
    /// may leave.
    /// </summary>
    public Task<bool>? TakeReady(List<MqttPacket> ready)
    {
        Task<bool>? blocking = null;
        foreach (var lane in _lanes)
        {
            while (lane.TryPeek(out var head))
            {
                if (head.MustLand is { IsCompleted: false } pending)
                {
                    blocking ??= pending;
                    break;
                }

                head.MustLand?.GetAwaiter().GetResult();
                ready.AddRange(lane.Dequeue().Packets);
            }
        }

        return blocking;
    }
}
