using Polly;
using StoreForward.Diagnostics;
using StoreForward.Outbox;
using StoreForward.Reconnect;
using StoreForward.Transport;

namespace StoreForward.Session;

/// <summary>
/// The background drain: connects through the reconnect pipeline, runs a <see cref="DeliverySession"/> until the link
/// fails, and starts over, until it is stopped.
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

    private readonly StoreForwardOptions _options;
    private readonly GroupCommitWriter _writer;
    private readonly ResiliencePipeline _pipeline;
    private readonly SessionState _state = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Action<IReadOnlyList<DeadLetter>> _deadLettered;
    private readonly Microsoft.Extensions.Logging.ILogger _logger;
    private DeliverySession? _session;
    private Task _loop = Task.CompletedTask;

    public DeliveryEngine(
        StoreForwardOptions options,
        GroupCommitWriter writer,
        Action<IReadOnlyList<DeadLetter>> deadLettered,
        Func<double>? randomizer = null,
        Action<TimeSpan, Exception?>? onRetry = null,
        Diagnostics.StoreForwardMetrics? metrics = null)
    {
        Counters = new DeliveryCounters(metrics);
        _options = options;
        _writer = writer;
        _deadLettered = deadLettered;
        _logger = Log.For(options);
        _pipeline = ReconnectPipeline.Create(options, randomizer, (delay, error) =>
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
        while (!stop.IsCancellationRequested)
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
        Counters.ConnectAttempted();
        MqttConnection connection;
        try
        {
            connection = await ConnectAsync(stop).ConfigureAwait(false);
        }
        catch (Exception e) when (!stop.IsCancellationRequested)
        {
            Counters.LastError = Describe(e);
            Log.ConnectFailed(_logger, _options.Host, _options.Port, Counters.LastError);
            throw;
        }

        var session = new DeliverySession(connection, _state, _writer, _options, Counters, _deadLettered);
        Log.Connected(_logger, _options.Host, _options.Port, connection.ProtocolVersion, connection.Limits.SessionPresent, session.Window);
        var startedAt = _options.TimeProvider.GetTimestamp();
        Volatile.Write(ref _session, session);
        Counters.IsConnected = true;
        Counters.Metrics?.Connected();
        Counters.LastError = null;
        try
        {
            await session.RunAsync(stop).ConfigureAwait(false);
        }
        catch (Exception e) when (!stop.IsCancellationRequested)
        {
            Counters.LastError = Describe(e);
            Log.Disconnected(_logger, _options.Host, _options.Port, Counters.LastError);
            // A failed commit can leave memory ahead of the disk; reading the small in-flight head again is cheap and
            // makes every session start from what is durable.
            _state.Invalidate();
            ForgetHandedOut();

            if (_options.TimeProvider.GetElapsedTime(startedAt) < StableSession)
                throw;
        }
        finally
        {
            Volatile.Write(ref _session, null);
            Counters.IsConnected = false;
            await connection.DisposeAsync().ConfigureAwait(false);
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
    /// Connects for a persistent session. A store that never had a session has no state to match the broker's, so before
    /// its first session a clean connection discards whatever the broker keeps under this ClientId (a deleted store's
    /// unfinished QoS 2 ids would otherwise make the broker drop new messages as duplicates). That clean connection is
    /// closed at once: Mosquitto 2.0 does not persist a session that began with CleanStart=true, so the session that
    /// carries messages always begins with CleanStart=false.
    /// </summary>
    private async Task<MqttConnection> ConnectAsync(CancellationToken stop)
    {
        var established = await _writer.RunAsync(store => store.SessionEstablished).ConfigureAwait(false);
        if (!established)
        {
            await using (var clean = await MqttConnection.ConnectAsync(_options, cleanStart: true, stop).ConfigureAwait(false))
                await clean.CloseGracefullyAsync(_options.ConnectTimeout).ConfigureAwait(false);

            await _writer.RunAsync(store =>
            {
                store.MarkSessionEstablished();
                return true;
            }).ConfigureAwait(false);
        }

        return await MqttConnection.ConnectAsync(_options, cleanStart: false, stop).ConfigureAwait(false);
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
        await _stop.CancelAsync().ConfigureAwait(false);
        await _loop.ConfigureAwait(false);
        _stop.Dispose();
    }
}
