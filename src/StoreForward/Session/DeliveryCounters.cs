namespace StoreForward.Session;

/// <summary>Process-wide figures of the delivery engine, read by <see cref="StoreForwardPublisher.Status"/>.</summary>
internal sealed class DeliveryCounters
{
    private long _sessionsLost;
    private long _connectAttempts;
    private volatile bool _connected;
    private volatile string? _lastError;

    public bool IsConnected
    {
        get => _connected;
        set => _connected = value;
    }

    public long SessionsLost => Interlocked.Read(ref _sessionsLost);

    public long ConnectAttempts => Interlocked.Read(ref _connectAttempts);

    /// <summary>Why the last connection attempt or session ended, or null after a clean start.</summary>
    public string? LastError
    {
        get => _lastError;
        set => _lastError = value;
    }

    public void SessionLost() => Interlocked.Increment(ref _sessionsLost);

    public void ConnectAttempted() => Interlocked.Increment(ref _connectAttempts);
}
