using System.Threading.Channels;
using MQTTnet.Formatter;
using MQTTnet.Packets;
using MQTTnet.Protocol;
using StoreForward.Outbox;
using StoreForward.Transport;

namespace StoreForward.Session;

/// <summary>
/// Drives one connection: resumes what was in flight, keeps a window of publishes outstanding, turns acknowledgements into
/// store changes and watches the keep-alive. It runs until the link fails or it is stopped; it ends normally only after
/// <see cref="WindDown"/>.
/// </summary>
/// <remarks>
/// All decisions happen on one logical thread (the loop in <see cref="RunAsync"/>). The receive loop and the keep-alive
/// timer only post events to it (the timer also sends PINGREQ itself). Each turn: take every event that is ready, top up
/// the window, hand the resulting store changes to the writer as one transaction, and queue the packets for the sender
/// task in two lanes, publishes and answers (see <see cref="SessionStep"/>). The sender keeps the order within each lane,
/// holds a lane back while the commit its head depends on is not durable, and sends whatever is ready in one socket write.
/// The loop never waits for the disk or the socket, so a turn's fsync overlaps the next turns, and a PUBREL waiting for
/// its PUBREC's commit never holds back the publishes that refill the window. A failed commit or send ends the session.
/// </remarks>
internal sealed class DeliverySession
{
    /// <summary>QoS 0 messages do not count against the window; this bounds how many one turn sends.</summary>
    private const int MaxPacketsPerTurn = 1024;

    private static readonly TimeSpan GoodbyeTimeout = TimeSpan.FromSeconds(1);

    private readonly MqttConnection _connection;
    private readonly SessionState _state;
    private readonly GroupCommitWriter _writer;
    private readonly DeliveryCounters _counters;
    private readonly Action<IReadOnlyList<DeadLetter>> _deadLettered;
    private readonly TimeProvider _time;
    private readonly Microsoft.Extensions.Logging.ILogger _logger;

    private readonly int? _maxAttempts;

    // QosAboveMaximum.Downgrade: messages above the broker's Maximum QoS are sent at it instead of dead-lettered.
    private readonly bool _downgrade;

    // Whether this connection already logged that it delivers below the published QoS: once per connection is enough to
    // tell the operator, and a log line per message would flood.
    private bool _downgradeLogged;

    // Whether this connection's oldest unacknowledged publish has been resent. Only it counts an attempt: a broker that
    // drops the link on one message acknowledges the ones before it and never reads the ones after it, so the oldest one
    // left is the culprit, and the others must not be dead-lettered with it.
    private bool _oldestResent;

    // The ClientId the messages are stamped with (StampMessageIdentity), or null.
    private readonly string? _identity;
    private readonly Channel<object> _events = Channel.CreateUnbounded<object>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Channel<OutgoingPackets> _outgoing = Channel.CreateUnbounded<OutgoingPackets>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
    private readonly Queue<OutboxMessage> _resend = new();
    private readonly List<Task<bool>> _pendingCommits = [];
    private readonly int _window;

    /// <summary>Most publishes this session keeps unacknowledged: MaxInFlight, the broker's Receive Maximum and a learned quota.</summary>
    public int Window => _window;

    // Messages per read of the queue: enough for two windows, and not so few that reads dominate.
    private readonly int _readSize;
    private readonly TimeSpan _keepAlive;
    private readonly TimeSpan _ackTimeout;
    private readonly bool _v5;
    private int _outboxGrewPosted;

    // Acknowledged messages whose removal is not durable yet: a crash resends them. Up to one window of them is free;
    // beyond that they take window slots, so the broker holds at most two windows of messages that the store still
    // keeps, and a crash causes at most that many QoS 1 duplicates however slow the disk. One free window keeps the
    // drain from waiting for each fsync.
    private int _acknowledgementsNotDurable;
    private volatile Exception? _deadLink;
    private volatile Exception? _receiveFailure;
    private volatile Exception? _sendFailure;
    private volatile bool _waitingForDisk;
    private Exception? _quotaExceeded;

    // Set by WindDown: send nothing new, and end once nothing is in flight.
    private bool _windingDown;

    // Since when the broker owes an answer with none arriving (timestamp), or 0 while nothing is outstanding.
    private long _awaitingAckSince;
    private bool _acknowledgedThisTurn;
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
        _logger = Diagnostics.Log.For(options);
        _identity = options.StampMessageIdentity ? options.ClientId : null;
        _maxAttempts = options.MaxDeliveryAttempts;
        _downgrade = options.QosAboveMaximum == QosAboveMaximum.Downgrade;
        _window = Math.Min(Math.Min(options.MaxInFlight, connection.Limits.ReceiveMaximum), state.BrokerQuota ?? int.MaxValue);
        _readSize = Math.Max(_window * 2, 256);
        _keepAlive = connection.Limits.ServerKeepAlive ?? options.KeepAlive;
        _ackTimeout = options.AckTimeout;
        _v5 = connection.ProtocolVersion == MqttProtocolVersion.V500;
        _lastPingAt = _time.GetTimestamp();
    }

    /// <summary>
    /// Asks the session to end cleanly, to hand over to an earlier server or because the publisher stops: no new message is
    /// sent, and once the broker acknowledged everything in flight the session says goodbye (DISCONNECT) and returns. A
    /// broker that never answers ends it through <see cref="StoreForwardOptions.AckTimeout"/>, or the stop's cancellation.
    /// </summary>
    public void WindDown() => _events.Writer.TryWrite(WindDownRequested.Instance);

    /// <summary>Wakes the loop after a commit added messages. Coalesced: one pending wake-up is enough.</summary>
    public void NotifyOutboxGrew()
    {
        if (Interlocked.Exchange(ref _outboxGrewPosted, 1) == 0)
            _events.Writer.TryWrite(OutboxGrew.Instance);
    }

    public async Task RunAsync(CancellationToken stop)
    {
        // The link ends by this token: a dead keep-alive or the end of the session. Stopping the publisher does not cancel
        // it directly, so the receive loop still hears the broker's last acknowledgements after our DISCONNECT.
        using var linkCts = new CancellationTokenSource();
        using var turnCts = CancellationTokenSource.CreateLinkedTokenSource(stop, linkCts.Token);
        var token = turnCts.Token;
        await _state.EnsureLoadedAsync(_writer).ConfigureAwait(false);
        await ResumeAsync().ConfigureAwait(false);

        var receiving = ReceiveLoopAsync(linkCts.Token);
        using var sendCts = CancellationTokenSource.CreateLinkedTokenSource(token);
        var sending = SendLoopAsync(sendCts.Token);
        var tick = _keepAlive / 8;
        using var keepAliveTimer = _time.CreateTimer(_ => CheckKeepAlive(linkCts), null, tick, tick);
        SessionStep? unfinished = null;
        var woundDown = false;
        try
        {
            while (true)
            {
                var step = new SessionStep();
                if (TakeReadyEvents(step) is { } failure)
                {
                    unfinished = step;
                    throw failure;
                }

                await TopUpWindowAsync(step).ConfigureAwait(false);
                if (_state.SentMark.Advance(step.HighestFirstSent, _state.LoadedThrough, _window) is { } mark)
                    step.MarkSentThrough(mark);
                if (step.IsEmpty)
                {
                    if (_windingDown && _state.InFlightCount == 0)
                    {
                        woundDown = true;
                        return;
                    }

                    await _events.Reader.WaitToReadAsync(token).ConfigureAwait(false);
                    continue;
                }

                await CommitAndQueueAsync(step).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (!stop.IsCancellationRequested && _deadLink is not null)
        {
            throw _deadLink;
        }
        finally
        {
            // Nothing may be sent after the session's decision to end, and DISCONNECT must not land inside a batch. A session
            // that wound down lets the sender finish first: a QoS 0 publish it holds for its removal's commit is already
            // gone from the store, so dropping it would lose it.
            _outgoing.Writer.TryComplete();
            if (woundDown)
                await sending.WaitAsync(GoodbyeTimeout, _time, stop).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            await sendCts.CancelAsync().ConfigureAwait(false);
            await sending.ConfigureAwait(false);
            if ((stop.IsCancellationRequested || _windingDown) && _deadLink is null && _receiveFailure is null && _sendFailure is null)
                await SayGoodbyeAsync(receiving).ConfigureAwait(false);
            await linkCts.CancelAsync().ConfigureAwait(false);
            await receiving.ConfigureAwait(false);
            await KeepLastAcknowledgementsAsync(unfinished ?? new SessionStep()).ConfigureAwait(false);

            // Let the commits already handed over land before a new session reads the store again. A failed one only means
            // the next session resends a little more; the session's own error is what gets reported.
            await Task.WhenAll(_pendingCommits).ContinueWith(static t => _ = t.Exception, TaskScheduler.Default).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Sends DISCONNECT and waits briefly for the broker to close the link: the acknowledgements it sent before it read our
    /// DISCONNECT arrive first, and are kept.
    /// </summary>
    private async Task SayGoodbyeAsync(Task receiving)
    {
        await _connection.SendDisconnectAsync(GoodbyeTimeout).ConfigureAwait(false);
        try
        {
            await receiving.WaitAsync(GoodbyeTimeout, _time).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // The broker keeps the link open; cancelling ends it.
        }
    }

    /// <summary>
    /// The session is ending, often because the broker closed the link right after answering (Mosquitto does so after
    /// refusing a publish). Commit the acknowledgements that arrived before the end, so that none of those messages is
    /// sent again by the next session. Best effort: if this commit fails, the next session reads the store anew.
    /// </summary>
    private async Task KeepLastAcknowledgementsAsync(SessionStep step)
    {
        TakeReadyEvents(step);
        if (!step.HasChanges)
            return;
        try
        {
            await _writer.RunAsync(step.ApplyTo).ConfigureAwait(false);
            if (step.DeadLetters.Count > 0)
                _deadLettered(step.DeadLetters);
        }
#pragma warning disable CA1031 // The session already ends with its own error; this one changes nothing for it.
        catch (Exception)
#pragma warning restore CA1031
        {
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
            // The broker forgot the PUBRECs too: forget them durably, or a restart would PUBREL (and so drop) messages
            // the broker no longer has.
            var step = new SessionStep();
            var returned = 0;
            foreach (var message in _state.ReturnInFlightToQueue())
            {
                if (message.State == DeliveryState.Released)
                    step.ForgetReleased(message);
                message.State = DeliveryState.Queued;
                returned++;
            }

            if (step.HasChanges)
                await _writer.RunAsync(step.ApplyTo).ConfigureAwait(false);
            _counters.SessionLost();
            Diagnostics.Log.SessionLost(_logger, returned);
        }

        foreach (var message in _state.InFlightInOrder)
            _resend.Enqueue(message);
    }

    /// <summary>Handles every event that is ready; returns the link failure that ends the session, if one came.</summary>
    private Exception? TakeReadyEvents(SessionStep step)
    {
        while (_quotaExceeded is null && _events.Reader.TryRead(out var e))
        {
            switch (e)
            {
                case MqttPubAckPacket ack:
                    Acknowledged(step, ack.PacketIdentifier, complete: false, (int)ack.ReasonCode, ack.ReasonString);
                    break;
                case MqttPubRecPacket received:
                    Received(step, received);
                    break;
                case MqttPubCompPacket complete:
                    Acknowledged(step, complete.PacketIdentifier, complete: true, 0, null);
                    break;
                case MqttPublishPacket inbound:
                    AnswerInbound(step, inbound);
                    break;
                case MqttPubRelPacket release:
                    step.Answers.Add(new MqttPubCompPacket { PacketIdentifier = release.PacketIdentifier });
                    break;
                case MqttPingRespPacket:
                    break;
                case AcknowledgementsDurable durable:
                    _acknowledgementsNotDurable -= durable.Count;
                    break;
                case WindDownRequested:
                    _windingDown = true;
                    break;
                case OutboxGrew:
                    // A full fence: a commit that lands after this reset must see 0 and post a new wake-up.
                    Interlocked.Exchange(ref _outboxGrewPosted, 0);
                    break;
                case MqttDisconnectPacket disconnect:
                    return new LinkLostException($"The broker closed the session: {disconnect.ReasonCode} (0x{(int)disconnect.ReasonCode:X2}){(string.IsNullOrEmpty(disconnect.ReasonString) ? "" : ": " + disconnect.ReasonString)}.");
                case LinkFailure failure:
                    return failure.Error;
                default:
                    return new MqttProtocolException($"Unexpected {e.GetType().Name} from the broker.");
            }
        }

        return _quotaExceeded;
    }

    /// <summary>
    /// The broker refused a message with Quota exceeded (0x97): it holds more unfinished messages from this client than it
    /// allows, although this side kept within Receive Maximum. Mosquitto does so after a crash, when it restores from its
    /// last save messages this side has long completed, and then closes the link. The refusal is transient: the message
    /// stays in flight, to be sent again on the next connection, which keeps fewer in flight than were outstanding now.
    /// </summary>
    private bool QuotaExceeded(int reasonCode, string packet)
    {
        if (!_v5 || reasonCode != (int)MqttPubAckReasonCode.QuotaExceeded)
            return false;
        var outstanding = _state.InFlightCount - _resend.Count;
        _state.BrokerQuota = Math.Max(1, outstanding - 1);
        _quotaExceeded = new LinkLostException(
            $"The broker answered {packet} with Quota exceeded (0x97) with {outstanding} messages outstanding, within its Receive Maximum; " +
            $"reconnecting with at most {_state.BrokerQuota} in flight.");
        return true;
    }

    /// <summary>
    /// PUBACK (<paramref name="complete"/> false) or PUBCOMP: the broker owns the message, so it leaves the outbox. A PUBACK
    /// also completes a QoS 2 message still awaiting its PUBREC: a broker that supports QoS 1 at most (RabbitMQ) answers
    /// QoS 2 that way, and so does any broker for a message this side downgraded. Waiting for a PUBREC that never comes
    /// would stall the drain.
    /// </summary>
    private void Acknowledged(SessionStep step, ushort packetId, bool complete, int reasonCode, string? reasonString)
    {
        if (!_state.TryGetInFlight(packetId, out var message) || QuotaExceeded(reasonCode, complete ? "PUBCOMP" : "PUBACK"))
            return;

        // A PUBCOMP completes only a released message; one for a message the broker may still hold awaiting PUBREL (a late
        // answer to a PUBREL for an id we had finished) must not drop it. A released message waits for its PUBCOMP.
        if (complete != (message.State == DeliveryState.Released))
            return;
        _acknowledgedThisTurn = true;
        _state.EndFlight(message);
        if (_v5 && reasonCode >= 0x80)
        {
            step.DeadLetter(message, Rejected(message, "PUBACK", reasonCode, reasonString));
            return;
        }

        if (!complete && message.Qos == MqttQualityOfServiceLevel.ExactlyOnce)
        {
            Downgraded(SendQos(message) == MqttQualityOfServiceLevel.ExactlyOnce
                ? "answered a QoS 2 PUBLISH with PUBACK: it supports QoS 1 at most, so QoS 2 messages are delivered at least once there, not exactly once"
                : null);
        }

        step.Acknowledged(message);
        _counters.Metrics?.Acknowledged(message.StoredAt, _time.GetUtcNow());
    }

    /// <summary>The QoS <paramref name="message"/> goes out with on this connection.</summary>
    private MqttQualityOfServiceLevel SendQos(OutboxMessage message) => _connection.Limits.SendQos(message, _downgrade);

    /// <summary>
    /// A message was delivered below the QoS it was published with: counted, and logged once per connection with
    /// <paramref name="brokerChoice"/> (what the broker did) or, when null, this side's downgrade to the broker's maximum.
    /// </summary>
    private void Downgraded(string? brokerChoice)
    {
        _counters.Downgrade();
        if (_downgradeLogged)
            return;
        _downgradeLogged = true;
        Diagnostics.Log.QosDowngraded(_logger, _connection.Endpoint, brokerChoice
            ?? $"accepts QoS {(int)_connection.Limits.MaximumQos} at most; messages published above it are sent at QoS {(int)_connection.Limits.MaximumQos} (QosAboveMaximum = Downgrade), so they lose their published guarantee there");
    }

    /// <summary>PUBREC: persist "released" before PUBREL goes out, so a restart sends PUBREL and never the PUBLISH again.</summary>
    private void Received(SessionStep step, MqttPubRecPacket pubRec)
    {
        if (!_state.TryGetInFlight(pubRec.PacketIdentifier, out var message) || message.Qos != MqttQualityOfServiceLevel.ExactlyOnce)
        {
            // The broker may still hold the id from a flight this side has finished; releasing it lets the broker finish too.
            step.Answers.Add(new MqttPubRelPacket { PacketIdentifier = pubRec.PacketIdentifier, ReasonCode = MqttPubRelReasonCode.PacketIdentifierNotFound });
            return;
        }

        if (QuotaExceeded((int)pubRec.ReasonCode, "PUBREC"))
            return;

        _acknowledgedThisTurn = true;
        if (_v5 && (int)pubRec.ReasonCode >= 0x80)
        {
            _state.EndFlight(message);
            step.DeadLetter(message, Rejected(message, "PUBREC", (int)pubRec.ReasonCode, pubRec.ReasonString));
            return;
        }

        if (message.State == DeliveryState.Published)
        {
            message.State = DeliveryState.Released;
            step.Released(message);
        }

        step.Answers.Add(new MqttPubRelPacket { PacketIdentifier = message.PacketId });
    }

    private static DeadLetter Rejected(OutboxMessage message, string packet, int reasonCode, string? reasonString) =>
        DeadLetter.Of(message, DeadLetterReason.RejectedByBroker, reasonCode,
            $"The broker answered {packet} with reason code 0x{reasonCode:X2}{(string.IsNullOrEmpty(reasonString) ? "" : ": " + reasonString)}.");

    /// <summary>We subscribe to nothing, but a session from an earlier life may still deliver; acknowledge so it drains.</summary>
    private static void AnswerInbound(SessionStep step, MqttPublishPacket inbound)
    {
        if (inbound.QualityOfServiceLevel == MqttQualityOfServiceLevel.AtLeastOnce)
            step.Answers.Add(new MqttPubAckPacket { PacketIdentifier = inbound.PacketIdentifier });
        else if (inbound.QualityOfServiceLevel == MqttQualityOfServiceLevel.ExactlyOnce)
            step.Answers.Add(new MqttPubRecPacket { PacketIdentifier = inbound.PacketIdentifier });
    }

    /// <summary>
    /// Fills the window in sequence order: first what was in flight before this connection, then queued messages. A
    /// message the broker can never accept goes to the dead letters instead of blocking the queue.
    /// </summary>
    private async Task TopUpWindowAsync(SessionStep step)
    {
        var loadedThisTurn = false;
        while (step.Publishes.Count + step.Answers.Count < MaxPacketsPerTurn)
        {
            var windowUsed = _state.InFlightCount - _resend.Count + Math.Max(0, _acknowledgementsNotDurable + step.Acknowledgements - _window);
            if (_resend.Count > 0)
            {
                if (windowUsed >= _window)
                    return;
                var again = _resend.Dequeue();
                if (again.State == DeliveryState.Published && Refused(again) is { } nowRefused)
                {
                    // The broker's limits fell since the first send; resending would only get us disconnected again.
                    _state.EndFlight(again);
                    step.DeadLetter(again, nowRefused);
                    continue;
                }

                if (again.State == DeliveryState.Released)
                {
                    step.Answers.Add(new MqttPubRelPacket { PacketIdentifier = again.PacketId });
                    continue;
                }

                if (SendQos(again) == MqttQualityOfServiceLevel.AtMostOnce)
                {
                    // This broker takes QoS 0 only: sent once more, without an id, and gone from the store first.
                    _state.EndFlight(again);
                    SendAtMostOnce(step, again);
                    continue;
                }

                if (!_oldestResent)
                {
                    _oldestResent = true;
                    if (again.Attempts >= _maxAttempts)
                    {
                        // Resent on that many connections and never acknowledged: a message that costs us the link each time
                        // would block the queue forever.
                        _state.EndFlight(again);
                        step.DeadLetter(again, DeadLetter.Of(again, DeadLetterReason.MaxDeliveryAttemptsExceeded, null,
                            $"The message was resent on {again.Attempts} connections after the first without an acknowledgement (MaxDeliveryAttempts {_maxAttempts})."));
                        continue;
                    }

                    again.Attempts++;
                    step.Attempted(again);
                }

                step.Publishes.Add(CreatePublish(again, dup: true));
                continue;
            }

            if (_windingDown)
                return;
            if (!_state.TryPeekReady(out var next))
            {
                if (loadedThisTurn || !_state.HasMoreToLoad(_writer.Snapshot))
                    return;
                loadedThisTurn = true;
                if (await _state.LoadMoreAsync(_writer, _readSize).ConfigureAwait(false) == 0)
                    return;
                continue;
            }

            var qos0 = SendQos(next) == MqttQualityOfServiceLevel.AtMostOnce;
            if (!qos0 && (windowUsed >= _window || !_state.CanStartFlight(next, _writer.Snapshot.OldestSequence)))
                return;

            _state.DropReadyHead();
            _state.ReadAheadIfLow(_writer, _readSize);
            if (MessageExpiry.HasExpired(next.ExpiresAt, _time.GetUtcNow()))
            {
                step.Expired(next);
                _counters.Metrics?.Expired();
                continue;
            }

            if (Refused(next) is { } refused)
            {
                step.DeadLetter(next, refused);
                continue;
            }

            if (qos0)
            {
                SendAtMostOnce(step, next);
                continue;
            }

            _state.StartFlight(next);
            step.Sent(next, CreatePublish(next, dup: false), _state.SentMark);
        }
    }

    /// <summary>A message sent at QoS 0 leaves the store before it is sent: at most once. Counted when downgraded.</summary>
    private void SendAtMostOnce(SessionStep step, OutboxMessage message)
    {
        step.RemoveBeforeSending(message);
        step.Sent(message, CreatePublish(message, dup: false), _state.SentMark);
        if (message.Qos != MqttQualityOfServiceLevel.AtMostOnce)
            Downgraded(null);
    }

    /// <summary>Why the broker can never accept the PUBLISH of <paramref name="message"/> as this session sends it, or null.</summary>
    private DeadLetter? Refused(OutboxMessage message) =>
        _connection.Limits.Refuses(message, SendQos(message), _connection.ProtocolVersion, _identity is null || !_v5 ? 0 : MessageIdentity.EncodedLength(_identity, message.Sequence));

    /// <summary>
    /// The PUBLISH for a message; on MQTT 5 with its stored properties, what is left of its lifetime and, when stamping, its
    /// identity.
    /// </summary>
    private MqttPublishPacket CreatePublish(OutboxMessage message, bool dup)
    {
        var qos = SendQos(message);
        var packet = new MqttPublishPacket
        {
            Topic = message.Topic,
            PayloadSegment = message.Payload,
            QualityOfServiceLevel = qos,
            Retain = message.Retain,
            PacketIdentifier = qos == MqttQualityOfServiceLevel.AtMostOnce ? (ushort)0 : message.PacketId,
            Dup = dup,
        };
        if (_v5)
        {
            message.Properties?.ApplyTo(packet);
            if (message.ExpiresAt is { } expiresAt)
                packet.MessageExpiryInterval = MessageExpiry.RemainingSeconds(expiresAt, _time.GetUtcNow());
            if (_identity is not null)
                (packet.UserProperties ??= []).AddRange(MessageIdentity.Stamp(_identity, message.Sequence));
        }

        return packet;
    }

    /// <summary>
    /// Hands the step's changes to the writer and its packets to the sender, without waiting: packets that depend on a
    /// commit (see <see cref="SessionStep"/>) wait for it in the sender, while this loop goes on deciding the next turns.
    /// </summary>
    private async Task CommitAndQueueAsync(SessionStep step)
    {
        await ThrowIfACommitFailedAsync().ConfigureAwait(false);
        Task<bool>? commit = null;
        if (step.HasChanges)
        {
            commit = _writer.RunAsync(step.ApplyTo);
            _pendingCommits.Add(commit);
            if (step.MovesSentMark)
                _state.SentMark.RecordedBy(commit);
            if (step.DeadLetters.Count > 0)
            {
                // Reported once on disk, whatever becomes of the link: the broker often closes it right after a refusal.
                var deadLetters = step.DeadLetters;
                _ = commit.ContinueWith(
                    t =>
                    {
                        if (t.IsCompletedSuccessfully)
                            _deadLettered(deadLetters);
                    },
                    CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            }

            if (step.Acknowledgements > 0)
            {
                // Posted whether the commit succeeds or fails: either way the loop must wake, to refill the window or to
                // report the failure.
                _acknowledgementsNotDurable += step.Acknowledgements;
                var count = step.Acknowledgements;
                _ = commit.ContinueWith(
                    _ => _events.Writer.TryWrite(new AcknowledgementsDurable(count)),
                    CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            }
        }

        if (step.Publishes.Count > 0)
            _outgoing.Writer.TryWrite(new OutgoingPackets(Lane.Publishes, step.Publishes, step.PublishesWaitForCommit ? commit : step.WaitForEarlierCommit));
        if (step.Answers.Count > 0)
            _outgoing.Writer.TryWrite(new OutgoingPackets(Lane.Answers, step.Answers, step.AnswersWaitForCommit ? commit : null));
        TrackAcknowledgementDebt();
    }

    /// <summary>
    /// Sends what the loop queued, through <see cref="OutgoingLanes"/>: what is ready in both lanes leaves in one write. A
    /// failed commit or send ends the session through the loop's events.
    /// </summary>
    private async Task SendLoopAsync(CancellationToken token)
    {
        var lanes = new OutgoingLanes();
        var ready = new List<MqttPacket>();
        Task<bool>? more = null;
        try
        {
            while (true)
            {
                while (_outgoing.Reader.TryRead(out var queued))
                    lanes.Enqueue(queued);

                var blocking = lanes.TakeReady(ready);
                WaitingForDisk(blocking is not null);
                if (ready.Count > 0)
                {
                    await SendAsync(ready, token).ConfigureAwait(false);
                    ready.Clear();
                    continue;
                }

                // One wait on the channel at a time, kept across a wake-up by a landed commit.
                more ??= _outgoing.Reader.WaitToReadAsync(token).AsTask();
                if (blocking is not null)
                    await Task.WhenAny(blocking, more).ConfigureAwait(false);
                else
                    await more.ConfigureAwait(false);
                if (more.IsCompleted)
                {
                    if (!await more.ConfigureAwait(false))
                    {
                        // Nothing more will be queued; what the lanes hold leaves once its commits landed.
                        if (blocking is null)
                            return;
                        await blocking.WaitAsync(token).ConfigureAwait(false);
                        continue;
                    }

                    more = null;
                }
            }
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            // The session is ending.
        }
#pragma warning disable CA1031 // Reported to the loop, which ends the session with it.
        catch (Exception error)
#pragma warning restore CA1031
        {
            _sendFailure = error;
            _events.Writer.TryWrite(new LinkFailure(error));
        }
    }

    /// <summary>
    /// The broker cannot answer what has not gone out: time the sender holds packets back for the disk does not count
    /// against AckTimeout, neither while it lasts nor after (the clock restarts when it ends, unless the loop stopped or
    /// restarted it meanwhile).
    /// </summary>
    private void WaitingForDisk(bool waiting)
    {
        if (waiting || !_waitingForDisk)
        {
            _waitingForDisk = waiting;
            return;
        }

        var since = Interlocked.Read(ref _awaitingAckSince);
        if (since != 0)
            Interlocked.CompareExchange(ref _awaitingAckSince, _time.GetTimestamp(), since);
        _waitingForDisk = false;
    }

    private async Task SendAsync(IReadOnlyList<MqttPacket> packets, CancellationToken token)
    {
        try
        {
            await _connection.SendAsync(packets, token).ConfigureAwait(false);
        }
        catch (Exception e) when (!token.IsCancellationRequested)
        {
            // The receive side usually saw the real cause (the broker closed the link) just before the send failed.
            throw _receiveFailure ?? new LinkLostException($"Sending to the broker failed: {e.Message}", e);
        }
    }

    /// <summary>Restarts the ack clock when the broker answered or when a first message became outstanding.</summary>
    private void TrackAcknowledgementDebt()
    {
        var outstanding = _state.InFlightCount - _resend.Count;
        var since = Interlocked.Read(ref _awaitingAckSince);
        if (outstanding == 0)
            since = 0;
        else if (_acknowledgedThisTurn || since == 0)
            since = _time.GetTimestamp();
        Interlocked.Exchange(ref _awaitingAckSince, since);
        _acknowledgedThisTurn = false;
    }

    private async Task ThrowIfACommitFailedAsync()
    {
        for (var i = _pendingCommits.Count - 1; i >= 0; i--)
        {
            if (!_pendingCommits[i].IsCompleted)
                continue;
            var done = _pendingCommits[i];
            _pendingCommits.RemoveAt(i);
            await done.ConfigureAwait(false);
        }
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
            _receiveFailure = new LinkLostException($"The connection to the broker broke: {error.Message}", error);
            _events.Writer.TryWrite(new LinkFailure(_receiveFailure));
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
        var awaitingSince = Interlocked.Read(ref _awaitingAckSince);
        if (awaitingSince != 0 && !_waitingForDisk && _time.GetElapsedTime(awaitingSince) >= _ackTimeout)
            _deadLink = new LinkLostException($"The broker acknowledged none of the in-flight messages for {_ackTimeout.TotalSeconds:0.#} s (AckTimeout); reconnecting to resend them.");
        else if (silence >= _keepAlive)
            _deadLink = new LinkLostException($"Nothing came from the broker for {silence.TotalSeconds:0.#} s (keep-alive {_keepAlive.TotalSeconds:0.#} s); the link is considered dead.");

        if (_deadLink is not null)
        {
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
            _ = PingAsync(link.Token);
        }
    }

    /// <summary>
    /// Sent from the timer, not through the sender: the sender may be waiting for a commit behind a long queue of
    /// publishes, and the keep-alive must not depend on the disk. MQTTnet serialises sends on the connection, and a PINGREQ
    /// written during a batch leaves with it.
    /// </summary>
    private async Task PingAsync(CancellationToken token)
    {
        try
        {
            await _connection.SendAsync(MqttPingReqPacket.Instance, token).ConfigureAwait(false);
        }
#pragma warning disable CA1031 // A failed ping means a failing link, which the receive loop and the keep-alive report.
        catch (Exception)
#pragma warning restore CA1031
        {
        }
    }

    private sealed class OutboxGrew
    {
        public static readonly OutboxGrew Instance = new();
    }

    private sealed class WindDownRequested
    {
        public static readonly WindDownRequested Instance = new();
    }

    private sealed record LinkFailure(Exception Error);

    private sealed record AcknowledgementsDurable(int Count);
}
