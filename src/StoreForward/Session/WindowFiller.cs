using MQTTnet.Packets;
using MQTTnet.Protocol;
using StoreForward.Outbox;

namespace StoreForward.Session;

/// <summary>
/// Fills one connection's window in sequence order: first what was in flight before it (PUBREL where PUBREC had been
/// recorded, PUBLISH with DUP=1 otherwise), then queued messages read from the outbox. A message that expired is dropped,
/// and one the broker can never accept becomes a dead letter instead of blocking the queue. The publish rate limits
/// (<see cref="PublishPacer"/>) hold back first sends only: resends and PUBRELs never wait behind new messages.
/// </summary>
internal sealed class WindowFiller(
    SessionState state,
    InFlightWindow window,
    GroupCommitWriter writer,
    PublishPacketFactory publishes,
    QosDowngrades downgrades,
    DeliveryCounters counters,
    TimeProvider time,
    int? maxAttempts,
    PublishPacer? pacer)
{
    /// <summary>QoS 0 messages do not count against the window; this bounds how many one turn sends.</summary>
    private const int MaxPacketsPerTurn = 1024;

    // Messages per read of the queue: enough for two windows, and not so few that reads dominate.
    private readonly int _readSize = Math.Max(window.Size * 2, 256);

    // Whether this connection's oldest unacknowledged publish has been resent. Only it counts an attempt: a broker that
    // drops the link on one message acknowledges the ones before it and never reads the ones after it, so the oldest one
    // left is the culprit, and the others must not be dead-lettered with it.
    private bool _oldestResent;

    /// <summary>Adds to <paramref name="turn"/> what the window has room for; with <paramref name="windingDown"/>, resends only.</summary>
    public async Task TopUpAsync(SessionTurn turn, bool windingDown)
    {
        var loadedThisTurn = false;
        while (turn.Publishes.Count + turn.Answers.Count < MaxPacketsPerTurn)
        {
            var windowUsed = window.Used(turn.Acknowledgements);
            if (window.HasResends)
            {
                if (windowUsed >= window.Size)
                    return;
                Resend(turn, window.NextResend());
                continue;
            }

            if (windingDown)
                return;
            if (!state.TryPeekReady(out var next))
            {
                if (loadedThisTurn || !state.HasMoreToLoad(writer.Snapshot))
                    return;
                loadedThisTurn = true;
                if (await state.LoadMoreAsync(writer, _readSize).ConfigureAwait(false) == 0)
                    return;
                continue;
            }

            var qos0 = publishes.SendQos(next) == MqttQualityOfServiceLevel.AtMostOnce;
            if (!qos0 && (windowUsed >= window.Size || !state.CanStartFlight(next, writer.Snapshot.OldestSequence)))
                return;

            var expired = MessageExpiry.HasExpired(next.ExpiresAt, time.GetUtcNow());
            var refused = expired ? null : publishes.Refused(next);
            if (!expired && refused is null && pacer?.TryTake(next.Size) == false)
                return;

            state.DropReadyHead();
            state.ReadAheadIfLow(writer, _readSize);
            if (expired)
            {
                turn.Expired(next);
                counters.Metrics?.Expired();
                continue;
            }

            if (refused is not null)
            {
                turn.DeadLetter(next, refused);
                continue;
            }

            if (qos0)
            {
                SendAtMostOnce(turn, next);
                continue;
            }

            state.StartFlight(next);
            turn.Sent(next, publishes.Create(next, dup: false), state.SentMark);
        }
    }

    /// <summary>A message that was in flight before this connection.</summary>
    private void Resend(SessionTurn turn, Flight again)
    {
        var message = again.Message;
        if (again.State == DeliveryState.Published && publishes.Refused(message) is { } nowRefused)
        {
            // The broker's limits fell since the first send; resending would only get us disconnected again.
            state.EndFlight(again);
            turn.DeadLetter(message, nowRefused);
            return;
        }

        if (again.State == DeliveryState.Released)
        {
            turn.Answers.Add(new MqttPubRelPacket { PacketIdentifier = again.PacketId });
            return;
        }

        if (publishes.SendQos(message) == MqttQualityOfServiceLevel.AtMostOnce)
        {
            // This broker takes QoS 0 only: sent once more, without an id, and gone from the store first.
            state.EndFlight(again);
            SendAtMostOnce(turn, message);
            return;
        }

        if (!_oldestResent)
        {
            _oldestResent = true;
            if (again.Attempts >= maxAttempts)
            {
                // Resent on that many connections and never acknowledged: a message that costs us the link each time
                // would block the queue forever.
                state.EndFlight(again);
                turn.DeadLetter(message, message.ToDeadLetter(DeadLetterReason.MaxDeliveryAttemptsExceeded, null,
                    $"The message was resent on {again.Attempts} connections after the first without an acknowledgement (MaxDeliveryAttempts {maxAttempts})."));
                return;
            }

            again.Attempts++;
            turn.RecordAttempts(again);
        }

        turn.Publishes.Add(publishes.Create(message, dup: true));
    }

    /// <summary>A message sent at QoS 0 leaves the store before it is sent: at most once. Counted when downgraded.</summary>
    private void SendAtMostOnce(SessionTurn turn, OutboxMessage message)
    {
        turn.RemoveBeforeSending(message);
        turn.Sent(message, publishes.Create(message, dup: false), state.SentMark);
        if (message.Qos != MqttQualityOfServiceLevel.AtMostOnce)
            downgrades.Report(null);
    }
}
