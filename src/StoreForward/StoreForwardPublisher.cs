using System.Buffers;
using MQTTnet;
using MQTTnet.Protocol;
using StoreForward.Outbox;
using StoreForward.Publishing;
using StoreForward.Session;

namespace StoreForward;

/// <summary>
/// Publishes MQTT messages through a durable outbox. <see cref="PublishAsync(string, ReadOnlyMemory{byte}, MqttQualityOfServiceLevel, bool, CancellationToken)"/> returns once the message is fsync'd to
/// disk; a background engine delivers it over a persistent session and deletes it only after the broker acknowledged it.
/// </summary>
public sealed class StoreForwardPublisher : IAsyncDisposable
{
    private readonly StoreForwardOptions _options;
    private readonly GroupCommitWriter _writer;
    private readonly DeliveryEngine _engine;
    private readonly DrainWaiters _drainWaiters = new();
    private readonly OutboxLimits _limits;
    private readonly string[] _coalescedTopics;
    private readonly Diagnostics.StoreForwardMetrics _metrics;
    private readonly Microsoft.Extensions.Logging.ILogger _logger;
    private int _disposed;

    private StoreForwardPublisher(StoreForwardOptions options, OutboxStore store, Func<double>? randomizer, Action<TimeSpan, Exception?>? onRetry)
    {
        _options = options;
        _limits = new OutboxLimits(options.MaxPendingMessages, options.MaxPendingBytes, options.OverflowPolicy);
        _logger = Diagnostics.Log.For(options.LoggerFactory);
        _coalescedTopics = [.. options.CoalescedTopics];
        _metrics = new Diagnostics.StoreForwardMetrics(options.ClientId, () => _writer!.Snapshot, options.TimeProvider);
        _writer = new GroupCommitWriter(store, options.TimeProvider, _metrics, options.CommitInterval);
        _writer.Committed += _drainWaiters.OnCommitted;
        _writer.SetAside += RaiseDeadLettered;
        _engine = new DeliveryEngine(LayerSettings.Engine(options), _writer, RaiseDeadLettered, randomizer, onRetry, _metrics);
    }

    /// <summary>
    /// Raised after a message was moved to the dead letters because the broker refused it or can never accept it. Runs on
    /// a thread-pool thread; exceptions thrown by handlers are ignored.
    /// </summary>
    public event EventHandler<DeadLetter>? MessageDeadLettered;

    /// <summary>
    /// The name of the <see cref="System.Diagnostics.Metrics.Meter"/> each publisher reports on (pending messages, bytes and
    /// age; published, acknowledged, expired, dropped and dead-lettered messages; connects and lost sessions; commit and
    /// delivery durations), every measurement tagged <c>storeforward.client_id</c>. See docs/metrics.md.
    /// </summary>
    public const string MeterName = Diagnostics.StoreForwardMetrics.MeterName;

    /// <summary>
    /// Raised after <see cref="OverflowPolicy.DropOldest"/> dropped an unsent message to make room, once the drop is
    /// durable. Runs on a thread-pool thread; exceptions thrown by handlers are ignored.
    /// </summary>
    public event EventHandler<DroppedMessage>? MessageDropped;

    /// <summary>The full path of the outbox file.</summary>
    public string StorePath => _writer.StorePath;

    /// <summary>
    /// Where the damaged store was moved when <see cref="StoreForwardOptions.QuarantineUnreadableStore"/> made this start
    /// with a fresh one; null otherwise. Alert on it: the messages in that file were not delivered.
    /// </summary>
    public string? QuarantinedStorePath { get; private init; }

    /// <summary>A snapshot of the outbox and the connection.</summary>
    public OutboxStatus Status
    {
        get
        {
            var snapshot = _writer.Snapshot;
            var counters = _engine.Counters;
            return new OutboxStatus(
                pendingMessages: snapshot.PendingMessages,
                pendingBytes: snapshot.PendingBytes,
                oldestPendingAge: snapshot.OldestAgeAt(_options.TimeProvider.GetUtcNow()),
                isConnected: counters.IsConnected,
                deadLetters: snapshot.DeadLetters,
                sessionsLost: counters.SessionsLost,
                lastConnectionError: counters.LastError,
                dropped: snapshot.Dropped,
                discardedQos0: counters.DiscardedQos0,
                downgraded: counters.Downgraded,
                server: counters.Server,
                expired: snapshot.Expired,
                superseded: snapshot.Superseded,
                storeError: _writer.LastFailure);
        }
    }

    /// <summary>Fsyncs issued on the store; with <see cref="CommitCount"/> it shows how publishes share commits.</summary>
    internal long SyncCount => _writer.SyncCount;

    internal long CommitCount => _writer.CommitCount;

    /// <summary>Injects storage faults into both store files (null heals them); runs on the writer thread.</summary>
    internal Task SetStorageFaultsForTests(IStorageFaults? faults) =>
        _writer.RunAsync(store =>
        {
            store.LogFile.Faults = faults;
            store.DataFile.Faults = faults;
            return true;
        });

    internal long ConnectAttempts => _engine.Counters.ConnectAttempts;

    /// <summary>
    /// Opens (or creates) the outbox and starts delivering in the background. It does not wait for the broker: publishing
    /// works while the broker is down.
    /// </summary>
    /// <exception cref="ArgumentException">An option is invalid; the message names it.</exception>
    /// <exception cref="OutboxStoreException">The store cannot be used: bad path, held by another process or by a publisher of this process with the same ClientId, foreign or damaged file.</exception>
    public static Task<StoreForwardPublisher> StartAsync(StoreForwardOptions options, CancellationToken cancellationToken = default) =>
        StartAsync(options, randomizer: null, onRetry: null, cancellationToken);

    internal static async Task<StoreForwardPublisher> StartAsync(
        StoreForwardOptions options,
        Func<double>? randomizer,
        Action<TimeSpan, Exception?>? onRetry,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        OptionsValidation.Validate(options);

        // Opening can replay a write-ahead log; keep that off the caller's thread.
        var (store, quarantined) = await Task.Run(() => OpenStore(options), cancellationToken).ConfigureAwait(false);
        var publisher = new StoreForwardPublisher(options, store, randomizer, onRetry) { QuarantinedStorePath = quarantined };
        Diagnostics.Log.StoreOpened(publisher._logger, store.FilePath, store.Snapshot.PendingMessages, store.Snapshot.PendingBytes);
        if (store.OthersPending.Count > 0)
        {
            Diagnostics.Log.OthersPendingInStore(
                publisher._logger, store.FilePath, options.ClientId, store.OthersPending.Values.Sum(),
                string.Join(", ", store.OthersPending.Select(o => $"{o.Key}: {o.Value}")));
        }
        publisher._engine.Start();
        return publisher;
    }

    private static (OutboxStore Store, string? Quarantined) OpenStore(StoreForwardOptions options)
    {
        try
        {
            return (OutboxStore.Open(options.StorePath, options.EncryptionKey, options.AllowWorldWritableStoreDirectory, options.ClientId), null);
        }
        catch (OutboxStoreException e) when (options.QuarantineUnreadableStore && e.Problem is OutboxStoreProblem.Damaged or OutboxStoreProblem.Foreign
            && !StoreFile.IsOpenInProcess(e.StorePath))
        {
            // Never under another publisher that shares the file and reads it fine: only a file nobody has open moves aside.
            var aside = OutboxStore.Quarantine(e.StorePath, options.TimeProvider.GetUtcNow());
            return (OutboxStore.Open(options.StorePath, options.EncryptionKey, options.AllowWorldWritableStoreDirectory, options.ClientId), aside);
        }
    }

    /// <summary>
    /// Stores a message durably and returns once it is on stable storage. Delivery to the broker follows in the
    /// background, in the order the publishes completed.
    /// </summary>
    /// <param name="topic">The topic: not empty, no wildcards (<c>+</c>, <c>#</c>), no U+0000, at most 65,535 UTF-8 bytes.</param>
    /// <param name="payload">The payload; may be empty (with <paramref name="retain"/> set, that clears the retained value).</param>
    /// <param name="qos">
    /// Quality of service: 0, 1 (default) or 2. QoS 2 is delivered exactly once, also across restarts. QoS 0 is stored like
    /// the others, unless <see cref="StoreForwardOptions.Qos0WhenOffline"/> discards it while no session is up.
    /// </param>
    /// <param name="retain">Whether the broker keeps the message as the topic's last value.</param>
    /// <param name="cancellationToken">
    /// Cancels the call only while the message waits for its commit (or for room, with <see cref="OverflowPolicy.Wait"/>);
    /// a cancelled publish stored nothing. Once the commit has started, the call completes with its receipt.
    /// </param>
    /// <exception cref="ArgumentException">
    /// The topic, QoS or payload size is invalid, or the message alone is larger than
    /// <see cref="StoreForwardOptions.MaxPendingBytes"/>; nothing was stored.
    /// </exception>
    /// <exception cref="StoreFullException">
    /// The outbox is at <see cref="StoreForwardOptions.MaxPendingMessages"/> or <see cref="StoreForwardOptions.MaxPendingBytes"/>
    /// and <see cref="StoreForwardOptions.OverflowPolicy"/> rejects; nothing was stored.
    /// </exception>
    /// <exception cref="OutboxStoreException">The commit failed (for example the disk is full); nothing was stored.</exception>
    /// <exception cref="ObjectDisposedException">The publisher is disposed, also while the publish waited for room.</exception>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("ApiDesign", "RS0026:Do not add multiple public overloads with optional parameters", Justification = "The overloads differ in their first parameter, so no call can be ambiguous, now or after a parameter is added to one.")]
    public Task<PublishReceipt> PublishAsync(
        string topic,
        ReadOnlyMemory<byte> payload,
        MqttQualityOfServiceLevel qos = MqttQualityOfServiceLevel.AtLeastOnce,
        bool retain = false,
        CancellationToken cancellationToken = default)
    {
        PublishValidator.Validate(topic, payload.Length, qos, _options.MaxPayloadBytes, nameof(payload));
        return Store(topic, payload, qos, retain, expiry: null, properties: null, cancellationToken);
    }

    /// <summary>
    /// Stores an MQTTnet application message durably, with its MQTT 5 properties, and returns once it is on stable
    /// storage: content type, payload format indicator, response topic, correlation data and user properties reach the
    /// broker unchanged (on MQTT 3.1.1, which has no properties, they are not sent). Its Message Expiry Interval, when set,
    /// is its lifetime instead of <see cref="StoreForwardOptions.DefaultMessageExpiry"/>; the broker gets what is left of it.
    /// Otherwise as <see cref="PublishAsync(string, ReadOnlyMemory{byte}, MqttQualityOfServiceLevel, bool, CancellationToken)"/>.
    /// </summary>
    /// <param name="message">The message. A topic alias and subscription identifiers have no meaning for a stored publish and are refused.</param>
    /// <param name="cancellationToken">As for the other overload.</param>
    /// <exception cref="ArgumentException">The topic, QoS, payload size or a property is invalid; nothing was stored.</exception>
    /// <exception cref="StoreFullException">As for the other overload.</exception>
    /// <exception cref="OutboxStoreException">As for the other overload.</exception>
    /// <exception cref="ObjectDisposedException">As for the other overload.</exception>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("ApiDesign", "RS0026:Do not add multiple public overloads with optional parameters", Justification = "The overloads differ in their first parameter, so no call can be ambiguous, now or after a parameter is added to one.")]
    public Task<PublishReceipt> PublishAsync(MqttApplicationMessage message, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(message);
        PublishValidator.Validate(message.Topic, message.Payload.Length, message.QualityOfServiceLevel, _options.MaxPayloadBytes, nameof(message));
        PublishValidator.ValidateProperties(message);
        var payload = message.Payload.ToArray();
        var expiry = message.MessageExpiryInterval > 0 ? TimeSpan.FromSeconds(message.MessageExpiryInterval) : (TimeSpan?)null;
        return Store(message.Topic, payload, message.QualityOfServiceLevel, message.Retain, expiry, MessageProperties.Of(message), cancellationToken);
    }

    private Task<PublishReceipt> Store(
        string topic, ReadOnlyMemory<byte> payload, MqttQualityOfServiceLevel qos, bool retain, TimeSpan? expiry, MessageProperties? properties, CancellationToken cancellationToken)
    {
        var size = OutboxMessage.StoredSize(topic, payload.Length);
        if (_limits.NeverFits(size))
            throw new ArgumentException(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"The message to '{topic}' is {size:N0} bytes of topic and payload, more than StoreForwardOptions.MaxPendingBytes ({_limits.MaxBytes:N0}): it could never be stored."), nameof(payload));
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        cancellationToken.ThrowIfCancellationRequested();
        if (qos == MqttQualityOfServiceLevel.AtMostOnce && _options.Qos0WhenOffline == Qos0WhenOffline.Drop && !_engine.Counters.IsConnected)
        {
            _engine.Counters.Qos0Discarded();
            return Task.FromResult(new PublishReceipt(0, _options.TimeProvider.GetUtcNow()));
        }

        var now = _options.TimeProvider.GetUtcNow();
        var lifetime = expiry ?? _options.DefaultMessageExpiry;
        var coalesce = Array.Exists(_coalescedTopics, filter => TopicFilter.Matches(filter, topic));
        var work = new AppendWork(topic, payload, qos, retain, now, _limits, RaiseDropped, lifetime is { } l ? now + l : null, properties, coalesce);
        _writer.Enqueue(work);
        return cancellationToken.CanBeCanceled ? WithdrawableAsync(work, cancellationToken) : work.Task;
    }

    private static async Task<PublishReceipt> WithdrawableAsync(AppendWork work, CancellationToken cancellationToken)
    {
        using (cancellationToken.UnsafeRegister(static (state, token) => ((AppendWork)state!).TryWithdraw(token), work))
            return await work.Task.ConfigureAwait(false);
    }

    /// <summary>
    /// Completes once every message stored before the call has left the outbox: acknowledged by the broker (PUBACK for
    /// QoS 1, PUBCOMP for QoS 2), sent (QoS 0) or moved to the dead letters.
    /// </summary>
    public Task FlushAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        return _drainWaiters.WaitAsync(() => _writer.Snapshot, cancellationToken);
    }

    /// <summary>
    /// Reads up to <paramref name="max"/> dead letters, oldest first, with their payloads; pass the last one's sequence as
    /// <paramref name="afterSequence"/> to read the next page.
    /// </summary>
    public Task<IReadOnlyList<DeadLetter>> GetDeadLettersAsync(int max = 100, long afterSequence = 0, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(max);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        return _writer.RunAsync<IReadOnlyList<DeadLetter>>(store => store.ReadDeadLetters(afterSequence, max)).WaitAsync(cancellationToken);
    }

    /// <summary>
    /// Moves dead letters back into the outbox, for example after the broker's ACL was fixed: each becomes a new message at
    /// the end of the queue, with a new sequence (the receipts, oldest dead letter first) and its first stored-at time,
    /// and is delivered like any other. All of them move in one commit, or none.
    /// </summary>
    /// <param name="sequences">The dead letters' sequences; null (default) requeues them all. Unknown sequences are skipped.</param>
    /// <param name="cancellationToken">Stops waiting for the result; the requeue may still happen.</param>
    /// <exception cref="StoreFullException">They do not all fit under the outbox's limits; nothing moved.</exception>
    public async Task<IReadOnlyList<PublishReceipt>> RequeueDeadLettersAsync(IEnumerable<long>? sequences = null, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        var which = sequences?.ToList();
        var (requeued, pendingMessages, pendingBytes) = await _writer.RunAsync(store => (store.RequeueDeadLetters(which, _limits), store.PendingMessages, store.PendingBytes))
            .WaitAsync(cancellationToken).ConfigureAwait(false);
        if (requeued.Sequences is null)
            throw StoreFullException.ForRequeue(requeued.Messages, requeued.Bytes, pendingMessages, pendingBytes, _limits.MaxMessages, _limits.MaxBytes);

        var storedAt = _options.TimeProvider.GetUtcNow();
        return [.. requeued.Sequences.Select(s => new PublishReceipt(s, storedAt))];
    }

    /// <summary>Deletes dead letters for good; returns how many were deleted.</summary>
    /// <param name="sequences">The dead letters' sequences; null (default) purges them all. Unknown sequences are skipped.</param>
    /// <param name="cancellationToken">Stops waiting for the result; the purge may still happen.</param>
    public Task<int> PurgeDeadLettersAsync(IEnumerable<long>? sequences = null, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        var which = sequences?.ToList();
        return _writer.RunAsync(store => store.PurgeDeadLetters(which)).WaitAsync(cancellationToken);
    }

    private void RaiseDeadLettered(IReadOnlyList<DeadLetter> deadLetters)
    {
        _metrics.DeadLettered(deadLetters.Count);
        foreach (var d in deadLetters)
        {
            if (d.Reason == DeadLetterReason.Unreadable)
                Diagnostics.Log.RecordUnreadable(_logger, d.Sequence, StorePath, d.Detail);
            else
                Diagnostics.Log.DeadLettered(_logger, d.Sequence, d.Topic, d.Reason, d.Detail);
        }

        Raise(MessageDeadLettered, deadLetters);
    }

    private void RaiseDropped(IReadOnlyList<DroppedMessage> dropped) => Raise(MessageDropped, dropped);

    /// <summary>Raises <paramref name="handler"/> for each item on a thread-pool thread, off the engine's and the writer's.</summary>
    private void Raise<T>(EventHandler<T>? handler, IReadOnlyList<T> items)
    {
        if (handler is null)
            return;
        ThreadPool.QueueUserWorkItem(_ =>
        {
            foreach (var item in items)
            {
                try
                {
                    handler(this, item);
                }
#pragma warning disable CA1031 // A subscriber's bug must not stop the delivery engine.
                catch (Exception)
#pragma warning restore CA1031
                {
                }
            }
        });
    }

    /// <summary>
    /// Stops delivery (sending DISCONNECT when connected), waits for queued commits and closes the store. Messages not yet
    /// acknowledged stay in the outbox and are resumed by the next publisher on the same store. Call
    /// <see cref="FlushAsync"/> first to wait for delivery.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        await _engine.DisposeAsync().ConfigureAwait(false);
        await _writer.DisposeAsync().ConfigureAwait(false);
        _drainWaiters.Close(new ObjectDisposedException(nameof(StoreForwardPublisher), "The publisher was disposed before the outbox drained."));
        _metrics.Dispose();
    }
}
