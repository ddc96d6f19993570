using System.Threading.Channels;
using MQTTnet.Formatter;
using MQTTnet.Packets;
using StoreForward.Outbox;
using StoreForward.Transport;

namespace StoreForward.Session;

/// <summary>
/// Drives one connection: resumes what was in flight, keeps a window of publishes outstanding, turns acknowledgements into
/// store changes and watches the keep-alive. It runs until the link fails or it is stopped; it ends normally only after
/// <see cref="WindDown"/>.
/// </summary>
/// <remarks>
/// All decisions happen on one logical thread, the loop in <see cref="RunAsync"/>, with its collaborators: the broker's
/// packets become store changes and answers in <see cref="BrokerAnswers"/>, the window is filled by
/// <see cref="WindowFiller"/> with packets from <see cref="PublishPacketFactory"/>. Three other contexts only post
/// <see cref="SessionEvent"/>s to it: the receive loop, the <see cref="PacketSender"/> task and commit continuations; the
/// <see cref="LinkWatchdog"/>'s timer also sends PINGREQ itself. Each turn: take every event that is ready, top up the
/// window, hand the resulting store changes to the writer as one transaction, and queue the packets for the sender in two
/// lanes, publishes and answers (see <see cref="SessionTurn"/>). The sender keeps the order within each lane, holds a
/// lane back while the commit its head depends on is not durable, and sends whatever is ready in one socket write. The
/// loop never waits for the disk or the socket, so a turn's fsync overlaps the next turns, and a PUBREL waiting for its
/// PUBREC's commit never holds back the publishes that refill the window. A failed commit or send ends the session.
/// </remarks>
internal sealed class DeliverySession
{
    private static readonly TimeSpan GoodbyeTimeout = TimeSpan.FromSeconds(1);

    private readonly IBrokerLink _link;
    private readonly SessionState _state;
    private readonly GroupCommitWriter _writer;
    private readonly DeliveryCounters _counters;
    private readonly Action<IReadOnlyList<DeadLetter>> _deadLettered;
    private readonly TimeProvider _time;
    private readonly Microsoft.Extensions.Logging.ILogger _logger;
    private readonly Channel<SessionEvent> _events = Channel.CreateUnbounded<SessionEvent>(new UnboundedChannelOptions { SingleReader = true });
    private readonly List<Task<bool>> _pendingCommits = [];
    private readonly InFlightWindow _window;
    private readonly BrokerAnswers _answers;
    private readonly WindowFiller _filler;
    private readonly AckClock _ackClock;
    private readonly LinkWatchdog _watchdog;
    private readonly PacketSender _sender;
    private readonly PublishPacer? _pacer;
    private readonly PresenceAnnouncer? _presence;
    private readonly Reauthentication _reauthentication;
    private int _outboxGrewPosted;
    private volatile Exception? _receiveFailure;

    // Set by WindDown: send nothing new, and end once nothing is in flight.
    private bool _windingDown;

    // Set by a wind-down that reconnects at once: the goodbye keeps the presence online.
    private bool _staysOnline;

    public DeliverySession(
        IBrokerLink link,
        SessionState state,
        GroupCommitWriter writer,
        SessionSettings settings,
        DeliveryCounters counters,
        Action<IReadOnlyList<DeadLetter>> deadLettered)
    {
        _link = link;
        _state = state;
        _writer = writer;
        _counters = counters;
        _deadLettered = deadLettered;
        _time = settings.Time;
        _logger = settings.Logger;
        var v5 = link.ProtocolVersion == MqttProtocolVersion.V500;
        _window = new InFlightWindow(state, Math.Min(Math.Min(settings.MaxInFlight, link.Limits.ReceiveMaximum), state.BrokerQuota ?? int.MaxValue));
        var publishes = new PublishPacketFactory(link, _time, settings.DowngradeAboveMaximumQos, settings.IdentityStamp);
        var downgrades = new QosDowngrades(link, counters, _logger);
        _answers = new BrokerAnswers(state, _window, publishes, downgrades, counters, _time, v5);
        _presence = settings.Presence is { } presence ? new PresenceAnnouncer(presence, link, settings.AckTimeout, _time, _logger) : null;
        _reauthentication = new Reauthentication(link, settings.Credentials, _time, settings.AckTimeout, _logger,
            packet => _events.Writer.TryWrite(SessionEvent.AuthReady(packet)), () => WindDown(announceOffline: false));
        _pacer = PublishPacer.Create(settings, () => _events.Writer.TryWrite(SessionEvent.PublishRateRefilled));
        _filler = new WindowFiller(state, _window, writer, publishes, downgrades, counters, _time, settings.MaxDeliveryAttempts, _pacer);
        _ackClock = new AckClock(_time);
        _watchdog = new LinkWatchdog(link, _time, link.Limits.ServerKeepAlive ?? settings.KeepAlive, settings.AckTimeout, _ackClock);
        _sender = new PacketSender(link, _ackClock, () => _receiveFailure, error => _events.Writer.TryWrite(SessionEvent.LinkFailed(error)));
    }

    /// <summary>Most publishes this session keeps unacknowledged: MaxInFlight, the broker's Receive Maximum and a learned quota.</summary>
    public int Window => _window.Size;

    /// <summary>
    /// Asks the session to end cleanly, to hand over to an earlier server, to renew its credentials or because the publisher
    /// stops: no new message is sent, and once the broker acknowledged everything in flight the session says goodbye
    /// (DISCONNECT) and returns. A broker that never answers ends it through <see cref="StoreForwardOptions.AckTimeout"/>,
    /// or the stop's cancellation.
    /// </summary>
    /// <param name="announceOffline">
    /// Whether the goodbye publishes the presence's offline state: yes when the publisher leaves this broker, no when it
    /// comes straight back (to renew its credentials), so that subscribers see no flap.
    /// </param>
    public void WindDown(bool announceOffline = true)
    {
        if (!announceOffline)
            Volatile.Write(ref _staysOnline, true);
        _events.Writer.TryWrite(SessionEvent.WindDownRequested);
    }

    /// <summary>Wakes the loop after a commit added messages. Coalesced: one pending wake-up is enough.</summary>
    public void NotifyOutboxGrew()
    {
        if (Interlocked.Exchange(ref _outboxGrewPosted, 1) == 0)
            _events.Writer.TryWrite(SessionEvent.OutboxGrew);
    }

    public async Task RunAsync(CancellationToken stop)
    {
        // The link ends by this token: a dead keep-alive or the end of the session. Stopping the publisher does not cancel
        // it directly, so the receive loop still hears the broker's last acknowledgements after our DISCONNECT.
        using var linkCts = new CancellationTokenSource();
        using var turnCts = CancellationTokenSource.CreateLinkedTokenSource(stop, linkCts.Token);
        var token = turnCts.Token;
        await _state.EnsureLoadedAsync(_writer).ConfigureAwait(false);
        if (_presence is not null)
            await _presence.AnnounceOnlineAsync(InFlightIds(), token).ConfigureAwait(false);
        await ResumeAsync().ConfigureAwait(false);

        var receiving = ReceiveLoopAsync(linkCts.Token);
        using var renewing = _reauthentication.Start(linkCts.Token);
        using var sendCts = CancellationTokenSource.CreateLinkedTokenSource(token);
        var sending = _sender.RunAsync(sendCts.Token);
        using var watching = _watchdog.Start(linkCts);
        SessionTurn? unfinished = null;
        var woundDown = false;
        try
        {
            while (true)
            {
                var turn = new SessionTurn();
                if (TakeReadyEvents(turn) is { } failure)
                {
                    unfinished = turn;
                    throw failure;
                }

                await _filler.TopUpAsync(turn, _windingDown).ConfigureAwait(false);
                _state.SentMark.Cover(turn, _state.LoadedThrough, _window.Size, mayWait: true);
                if (turn.IsEmpty)
                {
                    if (_windingDown && _state.InFlightCount == 0)
                    {
                        woundDown = true;
                        return;
                    }

                    await _events.Reader.WaitToReadAsync(token).ConfigureAwait(false);
                    continue;
                }

                await CommitAndQueueAsync(turn).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (!stop.IsCancellationRequested && _watchdog.DeadLink is { } deadLink)
        {
            throw deadLink;
        }
        finally
        {
            // Nothing may be sent after the session's decision to end, and DISCONNECT must not land inside a batch. A session
            // that wound down lets the sender finish first: a QoS 0 publish it holds for its removal's commit is already
            // gone from the store, so dropping it would lose it.
            _sender.Complete();
            if (woundDown)
                await sending.WaitAsync(GoodbyeTimeout, _time, stop).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            await sendCts.CancelAsync().ConfigureAwait(false);
            await sending.ConfigureAwait(false);
            _pacer?.Dispose();
            if ((stop.IsCancellationRequested || _windingDown) && _watchdog.DeadLink is null && _receiveFailure is null && _sender.Failure is null)
                await SayGoodbyeAsync(receiving).ConfigureAwait(false);
            await linkCts.CancelAsync().ConfigureAwait(false);
            await receiving.ConfigureAwait(false);
            await KeepLastAcknowledgementsAsync(unfinished ?? new SessionTurn()).ConfigureAwait(false);

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
        if (_presence is not null && !Volatile.Read(ref _staysOnline))
        {
            using var offline = new CancellationTokenSource(GoodbyeTimeout, _time);
            await _presence.AnnounceOfflineAsync(InFlightIds(), offline.Token).ConfigureAwait(false);
        }

        await _link.SendDisconnectAsync(GoodbyeTimeout).ConfigureAwait(false);
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
    private async Task KeepLastAcknowledgementsAsync(SessionTurn turn)
    {
        TakeReadyEvents(turn);
        _state.SentMark.Cover(turn, _state.LoadedThrough, _window.Size, mayWait: false);
        if (!turn.HasChanges)
            return;
        try
        {
            await _writer.RunAsync(turn.ApplyTo).ConfigureAwait(false);
            if (turn.DeadLetters.Count > 0)
                _deadLettered(turn.DeadLetters);
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
        if (!_link.Limits.SessionPresent && _state.InFlightCount > 0)
        {
            // The broker forgot the PUBRECs too: forget them durably, or a restart would PUBREL (and so drop) messages
            // the broker no longer has.
            var turn = new SessionTurn();
            var returned = 0;
            foreach (var flight in _state.ReturnInFlightToQueue())
            {
                if (flight.State == DeliveryState.Released)
                    turn.ForgetReleased(flight.Message);
                returned++;
            }

            if (turn.HasChanges)
                await _writer.RunAsync(turn.ApplyTo).ConfigureAwait(false);
            _counters.SessionLost();
            Diagnostics.Log.SessionLost(_logger, returned);
        }

        _window.Resend(_state.InFlightInOrder);
    }

    private IEnumerable<ushort> InFlightIds() => _state.InFlightInOrder.Select(flight => flight.PacketId);

    /// <summary>Handles every event that is ready; returns the failure that ends the session, if one came.</summary>
    private Exception? TakeReadyEvents(SessionTurn turn)
    {
        while (_answers.QuotaExceeded is null && _events.Reader.TryRead(out var e))
        {
            switch (e.Kind)
            {
                case SessionEventKind.FromBroker:
                    if ((e.Packet is MqttAuthPacket auth ? _reauthentication.Take(auth) : _answers.Take(turn, e.Packet!)) is { } ended)
                        return ended;
                    break;
                case SessionEventKind.AuthReady:
                    turn.Answers.Add(e.Packet!);
                    break;
                case SessionEventKind.AcknowledgementsDurable:
                    _window.AcknowledgementsDurable(e.Count);
                    break;
                case SessionEventKind.WindDownRequested:
                    _windingDown = true;
                    break;
                case SessionEventKind.OutboxGrew:
                    // A full fence: a commit that lands after this reset must see 0 and post a new wake-up.
                    Interlocked.Exchange(ref _outboxGrewPosted, 0);
                    break;
                case SessionEventKind.PublishRateRefilled:
                    // Only a wake-up: this turn tops the window up.
                    break;
                case SessionEventKind.LinkFailed:
                    return e.Error;
            }
        }

        return _answers.QuotaExceeded;
    }

    /// <summary>
    /// Hands the turn's changes to the writer and its packets to the sender, without waiting: packets that depend on a
    /// commit (see <see cref="SessionTurn"/>) wait for it in the sender, while this loop goes on deciding the next turns.
    /// </summary>
    private async Task CommitAndQueueAsync(SessionTurn turn)
    {
        await ThrowIfACommitFailedAsync().ConfigureAwait(false);
        Task<bool>? commit = null;
        if (turn.HasChanges)
        {
            commit = _writer.RunAsync(turn.ApplyTo);
            _pendingCommits.Add(commit);
            if (turn.MovesSentMark)
                _state.SentMark.RecordedBy(commit);
            if (turn.DeadLetters.Count > 0)
            {
                // Reported once on disk, whatever becomes of the link: the broker often closes it right after a refusal.
                var deadLetters = turn.DeadLetters;
                _ = commit.ContinueWith(
                    t =>
                    {
                        if (t.IsCompletedSuccessfully)
                            _deadLettered(deadLetters);
                    },
                    CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            }

            if (turn.Acknowledgements > 0)
            {
                // Posted whether the commit succeeds or fails: either way the loop must wake, to refill the window or to
                // report the failure.
                _window.AcknowledgementsCommitting(turn.Acknowledgements);
                var count = turn.Acknowledgements;
                _ = commit.ContinueWith(
                    _ => _events.Writer.TryWrite(SessionEvent.AcknowledgementsDurable(count)),
                    CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            }
        }

        if (turn.Publishes.Count > 0)
            _sender.Queue(new OutgoingPackets(Lane.Publishes, turn.Publishes, turn.PublishesWaitForCommit ? commit : turn.WaitForEarlierCommit));
        if (turn.Answers.Count > 0)
            _sender.Queue(new OutgoingPackets(Lane.Answers, turn.Answers, turn.AnswersWaitForCommit ? commit : null));
        _ackClock.Track(_window.Outstanding, _answers.TakeAnswered());
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
                var packet = await _link.ReceiveAsync(token).ConfigureAwait(false);
                _events.Writer.TryWrite(SessionEvent.FromBroker(packet));
            }
        }
        catch (Exception error) when (!token.IsCancellationRequested)
        {
            _receiveFailure = new LinkLostException($"The connection to the broker broke: {error.Message}", error);
            _events.Writer.TryWrite(SessionEvent.LinkFailed(_receiveFailure));
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
}
