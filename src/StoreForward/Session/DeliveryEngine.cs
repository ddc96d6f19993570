using Polly;
using StoreForward.Diagnostics;
using StoreForward.Outbox;
using StoreForward.Reconnect;
using StoreForward.Transport;

namespace StoreForward.Session;

/// <summary>
/// The background drain: connects through the reconnect pipeline to the first of the servers that answers, runs a
/// <see cref="DeliverySession"/> until the link fails (or it hands over to an earlier server), and starts over, until it is
/// stopped.
/// </summary>
/// <remarks>
/// One pipeline execution covers "connect and serve". A session that stayed up for at least <see cref="StableSession"/>
/// ends the execution normally, so the next connect starts again from the shortest delay; one that fails sooner counts
/// as a failed attempt and backs off. That keeps a broker that accepts and then drops us at once (for example a second
/// publisher with the same ClientId taking the session over) from turning into a hot reconnect loop.
/// </remarks>
internal sealed class DeliveryEngine : IAsyncDisposable
{
    internal static readonly TimeSpan StableSession = TimeSpan.FromSeconds(10);

    /// <summary>How long stopping lets the broker acknowledge what is in flight before the session says goodbye.</summary>
    internal static readonly TimeSpan StopDrainTimeout = TimeSpan.FromSeconds(1);

    /// <summary>
    /// The session key of one broker however it is reached (Host and Port may change, or name it through a proxy), and of
    /// servers that share sessions (<see cref="StoreForwardOptions.ServersShareSessions"/>).
    /// </summary>
    internal const string SharedSessionKey = "*";

    private readonly IReadOnlyList<BrokerEndpoint> _servers;

    private readonly EngineSettings _settings;
    private readonly GroupCommitWriter _writer;
    private readonly ResiliencePipeline _pipeline;
    private readonly SessionState _state = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Action<IReadOnlyList<DeadLetter>> _deadLettered;
    private readonly Microsoft.Extensions.Logging.ILogger _logger;
    private DeliverySession? _session;
    private Task _loop = Task.CompletedTask;
    private volatile bool _stopping;

    // Failback: the current probe interval, and the index of the server the last hand-over left (null when none is
    // pending). A primary that accepts TCP but refuses MQTT would otherwise cost a hand-over every interval.
    private TimeSpan? _failbackInterval;
    private int? _handedOverFrom;

    public DeliveryEngine(
        EngineSettings settings,
        GroupCommitWriter writer,
        Action<IReadOnlyList<DeadLetter>> deadLettered,
        Func<double>? randomizer = null,
        Action<TimeSpan, Exception?>? onRetry = null,
        Diagnostics.StoreForwardMetrics? metrics = null)
    {
        Counters = new DeliveryCounters(metrics);
        _settings = settings;
        _servers = settings.Servers;
        _failbackInterval = settings.FailbackInterval;
        _writer = writer;
        _deadLettered = deadLettered;
        _logger = settings.Logger;
        _pipeline = ReconnectPipeline.Create(settings.Reconnect, randomizer, (delay, error) =>
        {
            Log.Backoff(_logger, delay);
            onRetry?.Invoke(delay, error);
        });
        writer.Committed += _ => Volatile.Read(ref _session)?.NotifyOutboxGrew();
    }

    public DeliveryCounters Counters { get; }

    public void Start() => _loop = Task.Run(() => RunAsync(_stop.Token));

    private async Task RunAsync(CancellationToken stop)
    {
        while (!stop.IsCancellationRequested && !_stopping)
        {
            try
            {
                await _pipeline.ExecuteAsync(ConnectAndServeAsync, stop).ConfigureAwait(false);
            }
            catch (Exception) when (stop.IsCancellationRequested)
            {
                // Stopping: whatever the attempt in progress failed with no longer matters.
                return;
            }
        }
    }

    private async ValueTask ConnectAndServeAsync(CancellationToken stop)
    {
        var (connection, index) = await ConnectToFirstAnsweringAsync(stop).ConfigureAwait(false);
        if (_handedOverFrom is { } left)
        {
            // A return that worked resets the interval; one that ended where it started doubles it, up to an hour.
            _failbackInterval = index < left ? _settings.FailbackInterval : FailbackRetreat.Next(_failbackInterval!.Value);
            _handedOverFrom = null;
        }

        var server = connection.Endpoint.ToString();
        var session = new DeliverySession(connection, _state, _writer, _settings.Session, Counters, _deadLettered);
        Log.Connected(_logger, connection.Endpoint, connection.ProtocolVersion, connection.Limits.SessionPresent, session.Window);
        var startedAt = _settings.Time.GetTimestamp();
        Volatile.Write(ref _session, session);
        Counters.IsConnected = true;
        Counters.Server = server;
        Counters.Metrics?.Connected(connection.Endpoint);
        Counters.LastError = null;
        using var probing = CancellationTokenSource.CreateLinkedTokenSource(stop);
        var failback = FailBackWhenAnEarlierServerAnswersAsync(index, session, probing.Token);
        try
        {
            // Returns only after winding down (a hand-over to an earlier server, or the stop): the next round, if any, starts
            // at once from the first server.
            await session.RunAsync(stop).ConfigureAwait(false);
        }
        catch (Exception e) when (!stop.IsCancellationRequested)
        {
            Counters.LastError = Describe(e);
            Log.Disconnected(_logger, connection.Endpoint, Counters.LastError);
            if (_settings.Time.GetElapsedTime(startedAt) < StableSession)
                throw;
        }
        finally
        {
            // A failed commit, also one in the last turns of a session that wound down, can leave memory ahead of the
            // disk; reading the small in-flight head again is cheap and makes every session start from what is durable.
            if (!stop.IsCancellationRequested)
            {
                _state.Invalidate();
                ForgetHandedOut();
            }

            await probing.CancelAsync().ConfigureAwait(false);
            await failback.ConfigureAwait(false);
            Volatile.Write(ref _session, null);
            Counters.IsConnected = false;
            Counters.Server = null;
            await connection.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// One round: the servers in order, the first that accepts wins. When every one fails, the round fails with the last
    /// error, and the pipeline backs off before the next round.
    /// </summary>
    private async Task<(MqttConnection Connection, int Index)> ConnectToFirstAnsweringAsync(CancellationToken stop)
    {
        var errors = new List<string>(_servers.Count);
        for (var i = 0; ; i++)
        {
            Counters.ConnectAttempted();
            try
            {
                return (await ConnectAsync(_servers[i], stop).ConfigureAwait(false), i);
            }
            catch (Exception e) when (!stop.IsCancellationRequested)
            {
                var error = Describe(e);
                Log.ConnectFailed(_logger, _servers[i], error);
                errors.Add(_servers.Count == 1 ? error : $"{_servers[i]}: {error}");
                Counters.LastError = string.Join("; ", errors);
                if (i == _servers.Count - 1)
                    throw;
            }
        }
    }

    /// <summary>
    /// While connected to a server behind the first, probes the earlier ones every <see cref="StoreForwardOptions.FailbackInterval"/>;
    /// when one answers, the session hands over: it finishes what is in flight and ends, and the next round starts from the
    /// first server.
    /// </summary>
    private async Task FailBackWhenAnEarlierServerAnswersAsync(int connectedIndex, DeliverySession session, CancellationToken token)
    {
        if (connectedIndex == 0 || _failbackInterval is not { } interval)
            return;
        try
        {
            while (true)
            {
                await Task.Delay(interval, _settings.Time, token).ConfigureAwait(false);
                for (var i = 0; i < connectedIndex; i++)
                {
                    if (await ServerProbe.AnswersAsync(_servers[i], _settings.Connection.ConnectTimeout, _settings.Time, token).ConfigureAwait(false))
                    {
                        Log.FailingBack(_logger, _servers[i], _servers[connectedIndex]);
                        _handedOverFrom = connectedIndex;
                        session.WindDown();
                        return;
                    }
                }
            }
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            // The session ended first.
        }
    }

    /// <summary>
    /// Tells the store that the messages the session read but did not send are in the store only again, so that
    /// <see cref="OverflowPolicy.DropOldest"/> may drop them during the outage. Queued behind every read of the dropped
    /// session, and before any read of the next.
    /// </summary>
    private void ForgetHandedOut() =>
        _writer.RunAsync(store =>
        {
            store.ForgetHandedOut();
            return true;
        }).ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);

    /// <summary>
    /// Connects to <paramref name="server"/> for a persistent session. The stored delivery state belongs to one broker's
    /// session (the store records which of <see cref="StoreForwardOptions.Servers"/>). Before a session with any other
    /// broker (a store's first, or a switch to another server that does not share sessions) that broker's session is
    /// cleared with a clean connection, closed at once: a stale session, from a deleted store or an earlier visit, holds
    /// unfinished QoS 2 ids that would make it drop new messages as duplicates. The recorded PUBRECs are forgotten durably
    /// before that, so those messages are published to the new broker instead of released there, and only then is the new
    /// broker recorded. The new session then reports no session present, so the in-flight messages are published anew
    /// (and counted as a lost session). Mosquitto 2.0 does not persist a session that began with CleanStart=true, so the
    /// session that carries messages always begins with CleanStart=false.
    /// </summary>
    private async Task<MqttConnection> ConnectAsync(BrokerEndpoint server, CancellationToken stop)
    {
        var key = _servers.Count == 1 || _settings.ServersShareSessions ? SharedSessionKey : server.SessionKey;
        var sessionWith = await _writer.RunAsync(store => store.SessionServer).ConfigureAwait(false);

        // A store from before the broker was recorded ("") has its session with the one broker it was configured for:
        // this one when there is one broker (or one shared session). Among independent servers it may be any of them.
        if (sessionWith != key && !(sessionWith == "" && key == SharedSessionKey))
        {
            if (sessionWith is not null)
            {
                await _writer.RunAsync(store =>
                {
                    store.ForgetAllReleased();
                    return true;
                }).ConfigureAwait(false);
                _state.Invalidate();

                // What the last broker's quota taught says nothing about this one.
                _state.BrokerQuota = null;
            }

            await using (var clean = await MqttConnection.ConnectAsync(_settings.Connection, server, cleanStart: true, stop).ConfigureAwait(false))
                await clean.CloseGracefullyAsync(_settings.Connection.ConnectTimeout).ConfigureAwait(false);
        }

        if (sessionWith != key)
        {
            await _writer.RunAsync(store =>
            {
                store.MarkSessionEstablished(key);
                return true;
            }).ConfigureAwait(false);
        }

        return await MqttConnection.ConnectAsync(_settings.Connection, server, cleanStart: false, stop).ConfigureAwait(false);
    }

    /// <summary>The message with its causes: MQTTnet wraps "connection refused" in a generic "error while connecting".</summary>
    private static string Describe(Exception error)
    {
        var messages = new List<string>();
        for (var e = error; e is not null; e = e.InnerException)
        {
            if (!messages.Contains(e.Message))
                messages.Add(e.Message);
        }

        return string.Join(" <- ", messages);
    }

    public async ValueTask DisposeAsync()
    {
        // The session first finishes what is in flight: a broker that closes the socket on DISCONNECT before it sends the
        // acknowledgements it still owes (aedes does) would otherwise leave those messages to be delivered again after the
        // next start. A session that cannot finish in time is cancelled as before.
        _stopping = true;
        if (Volatile.Read(ref _session) is { } session)
        {
            session.WindDown();
            await _loop.WaitAsync(StopDrainTimeout, _settings.Time).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        await _loop.ConfigureAwait(false);
        _stop.Dispose();
    }
}
