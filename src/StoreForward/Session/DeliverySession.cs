using System.Threading.Channels;
using MQTTnet.Formatter;
using MQTTnet.Packets;
using MQTTnet.Protocol;
using StoreForward.Outbox;
using StoreForward.Transport;

namespace StoreForward.Session;

/// <summary>
/// Drives one connection: resumes what was in flight, keeps a window of publishes outstanding, turns acknowledgements into
/// store changes and watches the keep-alive. It runs until the link fails or it is stopped; it never ends normally.
/// </summary>
/// <remarks>
/// All decisions happen on one logical thread (the loop in <see cref="RunAsync"/>). The receive loop and the keep-alive
/// timer only post events to it. Each turn: take every event that is ready, top up the window, commit the resulting store
/// changes in one transaction, then send the packets, in that order.
/// </remarks>
internal sealed class DeliverySession
{
    /// <summary>QoS 0 messages do not count against the window; this bounds how many one turn sends.</summary>
    private const int MaxPacketsPerTurn = 1024;

    private readonly MqttConnection _connection;
    private readonly SessionState _state;
    private readonly GroupCommitWriter _writer;
    private readonly DeliveryCounters _counters;
    private readonly Action<IReadOnlyList<DeadLetter>> _deadLettered;
    private readonly TimeProvider _time;
    private readonly Channel<object> _events = Channel.CreateUnbounded<object>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Queue<OutboxMessage> _resend = new();
    private readonly SessionStep _step = new();
    private readonly int _window;
    private readonly TimeSpan _keepAlive;
    private readonly bool _v5;
    private int _outboxGrewPosted;
    private volatile Exception? _deadLink;
    private long _lastPingAt;

    public DeliverySession(
        MqttConnection connection,
        SessionState state,
        GroupCommitWriter writer,
        StoreForwardOptions options,
        DeliveryCounters counters,
        Action<IReadOnlyList<DeadLetter>> deadLettered)
    {
        _connection = connection;
        _state = state;
        _writer = writer;
        _counters = counters;
        _deadLettered = deadLettered;
        _time = options.TimeProvider;
        _window = Math.Min(options.MaxInFlight, connection.Limits.ReceiveMaximum);
        _keepAlive = connection.Limits.ServerKeepAlive ?? options.KeepAlive;
        _v5 = connection.ProtocolVersion == MqttProtocolVersion.V500;
        _lastPingAt = _time.GetTimestamp();
    }

    /// <summary>Wakes the loop after a commit added messages. Coalesced: one pending wake-up is enough.</summary>
    public void NotifyOutboxGrew()
    {
        if (Interlocked.Exchange(ref _outboxGrewPosted, 1) == 0)
            _events.Writer.TryWrite(OutboxGrew.Instance);
    }

    public async Task RunAsync(CancellationToken stop)
    {
        using var linkCts = CancellationTokenSource.CreateLinkedTokenSource(stop);
        var token = linkCts.Token;
        await _state.EnsureLoadedAsync(_writer).ConfigureAwait(false);
        await ResumeAsync().ConfigureAwait(false);

        var receiving = ReceiveLoopAsync(token);
        var tick = _keepAlive / 8;
        using var keepAliveTimer = _time.CreateTimer(_ => CheckKeepAlive(linkCts), null, tick, tick);
        try
        {
            while (true)
            {
                TakeReadyEvents();
                await TopUpWindowAsync().ConfigureAwait(false);
                if (_step.IsEmpty)
                {
                    await _events.Reader.WaitToReadAsync(token).ConfigureAwait(false);
                    continue;
                }

                await CommitAndSendAsync(token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (!stop.IsCancellationRequested && _deadLink is not null)
        {
            throw _deadLink;
        }
        finally
        {
            await linkCts.CancelAsync().ConfigureAwait(false);
            await receiving.ConfigureAwait(false);
        }
    }

    /// <summary>
    /// With the session present, what was in flight is sent again with the same ids: PUBREL where PUBREC had arrived,
    /// PUBLISH with DUP=1 otherwise. Without it, the broker forgot those ids and the messages are published anew.
    /// </summary>
    private async Task ResumeAsync()
    {
        if (!_connection.Limits.SessionPresent && _state.InFlightCount > 0)
        {
            var returned = _state.ReturnInFlightToQueue();
            await _writer.RunAsync(store =>
            {
                foreach (var message in returned)
                    store.SaveState(message);
                return true;
            }).ConfigureAwait(false);
            _counters.SessionLost();
        }

        foreach (var message in _state.InFlightInOrder)
            _resend.Enqueue(message);
    }

    private void TakeReadyEvents()
    {
        while (_events.Reader.TryRead(out var e))
        {
            switch (e)
            {
                case MqttPubAckPacket ack:
                    Acknowledged(ack.PacketIdentifier, MqttQualityOfServiceLevel.AtLeastOnce, (int)ack.ReasonCode, ack.ReasonString);
                    break;
                case MqttPubRecPacket received:
                    Received(received);
                    break;
                case MqttPubCompPacket complete:
                    Acknowledged(complete.PacketIdentifier, MqttQualityOfServiceLevel.ExactlyOnce, 0, null);
                    break;
                case MqttPublishPacket inbound:
                    AnswerInbound(inbound);
                    break;
                case MqttPubRelPacket release:
                    _step.Packets.Add(new MqttPubCompPacket { PacketIdentifier = release.PacketIdentifier });
                    break;
                case MqttPingRespPacket:
                    break;
                case PingDue:
                    _step.Packets.Add(MqttPingReqPacket.Instance);
                    break;
                case OutboxGrew:
                    Volatile.Write(ref _outboxGrewPosted, 0);
                    break;
                case MqttDisconnectPacket disconnect:
                    throw new LinkLostException($"The broker closed the session: {disconnect.ReasonCode} (0x{(int)disconnect.ReasonCode:X2}){(string.IsNullOrEmpty(disconnect.ReasonString) ? "" : ": " + disconnect.ReasonString)}.");
                case LinkFailure failure:
                    throw failure.Error;
                default:
                    throw new MqttProtocolException($"Unexpected {e.GetType().Name} from the broker.");
            }
        }
    }

    /// <summary>PUBACK (QoS 1) or PUBCOMP (QoS 2): the broker owns the message, so it leaves the outbox.</summary>
    private void Acknowledged(ushort packetId, MqttQualityOfServiceLevel expectedQos, int reasonCode, string? reasonString)
    {
        if (!_state.TryGetInFlight(packetId, out var message) || message.Qos != expectedQos)
            return;
        _state.EndFlight(message);
        if (_v5 && reasonCode >= 0x80)
            _step.DeadLetter(message, Rejected(message, expectedQos == MqttQualityOfServiceLevel.AtLeastOnce ? "PUBACK" : "PUBREC", reasonCode, reasonString));
        else
            _step.Remove(message);
    }

    /// <summary>PUBREC: persist "released" before PUBREL goes out, so a restart sends PUBREL and never the PUBLISH again.</summary>
    private void Received(MqttPubRecPacket pubRec)
    {
        if (!_state.TryGetInFlight(pubRec.PacketIdentifier, out var message) || message.Qos != MqttQualityOfServiceLevel.ExactlyOnce)
        {
            // The broker may still hold the id from a flight this side has finished; releasing it lets the broker finish too.
            _step.Packets.Add(new MqttPubRelPacket { PacketIdentifier = pubRec.PacketIdentifier, ReasonCode = MqttPubRelReasonCode.PacketIdentifierNotFound });
            return;
        }

        if (_v5 && (int)pubRec.ReasonCode >= 0x80)
        {
            _state.EndFlight(message);
            _step.DeadLetter(message, Rejected(message, "PUBREC", (int)pubRec.ReasonCode, pubRec.ReasonString));
            return;
        }

        if (message.State == DeliveryState.Published)
        {
            message.State = DeliveryState.Released;
            _step.Save(message);
        }

        _step.Packets.Add(new MqttPubRelPacket { PacketIdentifier = message.PacketId });
    }

    private static DeadLetter Rejected(OutboxMessage message, string packet, int reasonCode, string? reasonString) =>
        new(message.Sequence, message.Topic, DeadLetterReason.RejectedByBroker, reasonCode,
            $"The broker answered {packet} with reason code 0x{reasonCode:X2}{(string.IsNullOrEmpty(reasonString) ? "" : ": " + reasonString)}.");

    /// <summary>We subscribe to nothing, but a session from an earlier life may still deliver; acknowledge so it drains.</summary>
    private void AnswerInbound(MqttPublishPacket inbound)
    {
        if (inbound.QualityOfServiceLevel == MqttQualityOfServiceLevel.AtLeastOnce)
            _step.Packets.Add(new MqttPubAckPacket { PacketIdentifier = inbound.PacketIdentifier });
        else if (inbound.QualityOfServiceLevel == MqttQualityOfServiceLevel.ExactlyOnce)
            _step.Packets.Add(new MqttPubRecPacket { PacketIdentifier = inbound.PacketIdentifier });
    }

    /// <summary>
    /// Fills the window in sequence order: first what was in flight before this connection, then queued messages. A
    /// message the broker can never accept goes to the dead letters instead of blocking the queue.
    /// </summary>
    private async Task TopUpWindowAsync()
    {
        var loadedThisTurn = false;
        while (_step.Packets.Count < MaxPacketsPerTurn)
        {
            var outstanding = _state.InFlightCount - _resend.Count;
            if (_resend.Count > 0)
            {
                if (outstanding >= _window)
                    return;
                var again = _resend.Dequeue();
                _step.Packets.Add(again.State == DeliveryState.Released
                    ? new MqttPubRelPacket { PacketIdentifier = again.PacketId }
                    : CreatePublish(again, dup: true));
                continue;
            }

            if (!_state.TryPeekReady(out var next))
            {
                if (loadedThisTurn || _writer.Snapshot.LastSequence <= _state.LoadedThrough)
                    return;
                loadedThisTurn = true;
                if (await _state.LoadMoreAsync(_writer, Math.Max(_window * 2, 256)).ConfigureAwait(false) == 0)
                    return;
                continue;
            }

            if (next.Qos != MqttQualityOfServiceLevel.AtMostOnce && outstanding >= _window)
                return;

            _state.DropReadyHead();
            if (_connection.Limits.Refuses(next, _connection.ProtocolVersion) is { } refused)
            {
                _step.DeadLetter(next, refused);
                continue;
            }

            if (next.Qos == MqttQualityOfServiceLevel.AtMostOnce)
            {
                // At most once: removed in the commit before the send, so a crash can lose it but never repeat it.
                _step.Remove(next);
            }
            else
            {
                _state.StartFlight(next);
                _step.Save(next);
            }

            _step.Packets.Add(CreatePublish(next, dup: false));
        }
    }

    private static MqttPublishPacket CreatePublish(OutboxMessage message, bool dup) =>
        new()
        {
            Topic = message.Topic,
            PayloadSegment = message.Payload,
            QualityOfServiceLevel = message.Qos,
            Retain = message.Retain,
            PacketIdentifier = message.PacketId,
            Dup = dup,
        };

    private async Task CommitAndSendAsync(CancellationToken token)
    {
        if (_step.HasChanges)
        {
            await _writer.RunAsync(_step.ApplyTo).ConfigureAwait(false);
            if (_step.DeadLetters.Count > 0)
                _deadLettered(_step.DeadLetters.ToArray());
        }

        foreach (var packet in _step.Packets)
            await _connection.SendAsync(packet, token).ConfigureAwait(false);
        _step.Clear();
    }

    private async Task ReceiveLoopAsync(CancellationToken token)
    {
        await Task.Yield();
        try
        {
            while (true)
            {
                var packet = await _connection.ReceiveAsync(token).ConfigureAwait(false);
                _events.Writer.TryWrite(packet);
            }
        }
        catch (Exception error) when (!token.IsCancellationRequested)
        {
            _events.Writer.TryWrite(new LinkFailure(new LinkLostException($"The connection to the broker broke: {error.Message}", error)));
        }
        catch (OperationCanceledException)
        {
            // The session is ending.
        }
        catch (Exception)
        {
            // The link failed while the session was already ending; nothing is waiting for this loop's verdict.
        }
    }

    /// <summary>
    /// Runs on the timer. A link silent for a whole keep-alive period (after a PINGREQ at half of it) is dead: half-open TCP
    /// links never report an error by themselves, so the session is cancelled to abort even a send stuck in the socket.
    /// </summary>
    private void CheckKeepAlive(CancellationTokenSource link)
    {
        var silence = _connection.SinceLastReceived;
        if (silence >= _keepAlive)
        {
            _deadLink = new LinkLostException($"Nothing came from the broker for {silence.TotalSeconds:0.#} s (keep-alive {_keepAlive.TotalSeconds:0.#} s); the link is considered dead.");
            try
            {
                link.Cancel();
            }
            catch (ObjectDisposedException)
            {
                // The session already ended.
            }

            return;
        }

        var half = _keepAlive / 2;
        if ((silence >= half || _connection.SinceLastSent >= half) && _time.GetElapsedTime(Interlocked.Read(ref _lastPingAt)) >= half)
        {
            Interlocked.Exchange(ref _lastPingAt, _time.GetTimestamp());
            _events.Writer.TryWrite(PingDue.Instance);
        }
    }

    private sealed class OutboxGrew
    {
        public static readonly OutboxGrew Instance = new();
    }

    private sealed class PingDue
    {
        public static readonly PingDue Instance = new();
    }

    private sealed record LinkFailure(Exception Error);
}
