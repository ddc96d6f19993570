using StoreForward.Diagnostics;

namespace StoreForward.Session;

/// <summary>
/// Process-wide figures of the delivery engine, read by <see cref="StoreForwardPublisher.Status"/>, and the way to its
/// metrics.
/// </summary>
internal sealed class DeliveryCounters(StoreForwardMetrics? metrics = null)
{
    private long _sessionsLost;
    private long _connectAttempts;
    private long _discardedQos0;
    private long _downgraded;
    private volatile bool _connected;
    private volatile string? _server;
    private volatile string? _lastError;

    public bool IsConnected
    {
        get => _connected;
        set => _connected = value;
    }

    /// <summary>The server of the session that is up (<see cref="Transport.BrokerEndpoint.ToString"/>), or null.</summary>
    public string? Server
    {
        get => _server;
        set => _server = value;
    }

    public long SessionsLost => Interlocked.Read(ref _sessionsLost);

    public long ConnectAttempts => Interlocked.Read(ref _connectAttempts);

    /// <summary>Why the last connection attempt or session ended, or null after a clean start.</summary>
    public string? LastError
    {
        get => _lastError;
        set => _lastError = value;
    }

    /// <summary>QoS 0 publishes discarded while offline (<see cref="Qos0WhenOffline.Drop"/>) since the publisher started.</summary>
    public long DiscardedQos0 => Interlocked.Read(ref _discardedQos0);

    /// <summary>The publisher's instruments, or null (tests that build the engine alone).</summary>
    public StoreForwardMetrics? Metrics { get; } = metrics;

    public void SessionLost()
    {
        Interlocked.Increment(ref _sessionsLost);
        Metrics?.SessionLost();
    }

    public void Qos0Discarded() => Interlocked.Increment(ref _discardedQos0);

    /// <summary>Messages delivered below the QoS they were published with, since the publisher started.</summary>
    public long Downgraded => Interlocked.Read(ref _downgraded);

    public void Downgrade()
    {
        Interlocked.Increment(ref _downgraded);
        Metrics?.Downgraded();
    }

    public void ConnectAttempted() => Interlocked.Increment(ref _connectAttempts);
}
