using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace StoreForward.Tests.Infrastructure;

/// <summary>
/// In-process TCP proxy between an MQTT client (the code under test) and a broker that
/// re-frames the byte stream into whole MQTT packets. Tests put it in the middle to
/// <list type="bullet">
/// <item>observe exactly what went over the wire (<see cref="Seen"/>: packet ids, DUP, QoS),</item>
/// <item>lose specific packets (<see cref="DropFromClient"/>/<see cref="DropFromBroker"/>, e.g. a PUBACK, to force a resend),</item>
/// <item>break the link (<see cref="ResetAllConnections"/>, <see cref="BlackHole"/>, <see cref="RefuseConnections"/>),</item>
/// <item>measure flow control (<see cref="MaxOutstandingPublishes"/> vs the broker's Receive Maximum).</item>
/// </list>
/// Every socket error ends only the affected connection pair; nothing here may throw into the
/// test process from a background task.
/// </summary>
public sealed class MqttTcpProxy : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly string _targetHost;
    private readonly int _targetPort;
    private readonly CancellationTokenSource _shutdown = new();
    private readonly ConcurrentDictionary<int, MqttProxyConnection> _connections = new();
    private readonly ConcurrentDictionary<int, Task> _tasks = new();
    private readonly Lock _outstandingLock = new();
    private readonly HashSet<(string Client, ushort PacketId)> _outstanding = [];
    private readonly Task _acceptLoop;

    private int _nextConnectionId;
    private int _nextTaskId;
    private int _maxOutstanding;
    private volatile bool _blackHole;
    private volatile bool _refuseConnections;
    private int _disposed;

    private MqttTcpProxy(string targetHost, int targetPort)
    {
        _targetHost = targetHost;
        _targetPort = targetPort;
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _acceptLoop = Task.Run(AcceptLoopAsync);
    }

    /// <summary>Raised (on a proxy thread) for every packet read, before the drop decision is applied to forwarding.</summary>
    public event Action<MqttProxyPacket>? PacketSeen;

    /// <summary>Loopback port clients should connect to instead of the broker's.</summary>
    public int Port { get; }

#pragma warning disable CA1822 // Instance on purpose: tests read endpoint.Host / endpoint.Port as a pair.
    public string Host => "127.0.0.1";
#pragma warning restore CA1822

    /// <summary>Return true to silently discard a packet travelling broker -> client (e.g. a PUBACK).</summary>
    public Func<MqttProxyPacket, bool>? DropFromBroker { get; set; }

    /// <summary>Return true to silently discard a packet travelling client -> broker (e.g. a PUBLISH).</summary>
    public Func<MqttProxyPacket, bool>? DropFromClient { get; set; }

    /// <summary>Every packet in both directions, in the order the proxy read them; dropped ones have <c>Dropped == true</c>.</summary>
    public ConcurrentQueue<MqttProxyPacket> Seen { get; } = new();

    /// <summary>
    /// Exceptions that ended a connection pair (other than ordinary disconnects), including
    /// exceptions thrown by the Drop filters: kept so a broken filter does not fail silently.
    /// </summary>
    public ConcurrentQueue<Exception> Errors { get; } = new();

    /// <summary>
    /// When true nothing is forwarded in either direction, but sockets stay open: a half-open
    /// link. Packets are read and discarded (recorded as dropped), and a side that closes its
    /// socket is not reported to the other side, just like a FIN lost in a network partition;
    /// each side only notices through its own keep-alive timeout.
    /// </summary>
    public bool BlackHole
    {
        get => _blackHole;
        set => _blackHole = value;
    }

    /// <summary>
    /// A packet from the client for which this returns true is forwarded only half way, and nothing more goes from that
    /// client to the broker on that connection: a link that stalls in the middle of a packet. The sockets stay open.
    /// </summary>
    public Func<MqttProxyPacket, bool>? StallFromClient { get; set; }

    /// <summary>When true new connections are accepted and closed immediately (broker unreachable).</summary>
    public bool RefuseConnections
    {
        get => _refuseConnections;
        set => _refuseConnections = value;
    }

    /// <summary>Number of TCP connections accepted so far (including refused ones): counts client reconnects.</summary>
    public int AcceptedConnections => Volatile.Read(ref _nextConnectionId);

    /// <summary>Number of connection pairs currently open.</summary>
    public int ActiveConnections => _connections.Count;

    /// <summary>
    /// QoS 1/2 PUBLISH packets the client has sent whose PUBACK (QoS 1) / PUBCOMP (QoS 2) it has
    /// not received yet, keyed by (client id, packet id). Counted from the client's point of
    /// view: a PUBLISH dropped by the proxy still counts (the client thinks it is in flight), an
    /// acknowledgement dropped by the proxy does not complete it. Entries survive reconnects
    /// because the session does; a re-sent PUBLISH with the same id is not counted twice.
    /// </summary>
    public int OutstandingPublishes
    {
        get
        {
            lock (_outstandingLock)
            {
                return _outstanding.Count;
            }
        }
    }

    /// <summary>Highest value <see cref="OutstandingPublishes"/> has reached: compare with the broker's Receive Maximum.</summary>
    public int MaxOutstandingPublishes
    {
        get
        {
            lock (_outstandingLock)
            {
                return _maxOutstanding;
            }
        }
    }

    public static MqttTcpProxy Start(string targetHost, int targetPort)
    {
        ArgumentException.ThrowIfNullOrEmpty(targetHost);
        return new MqttTcpProxy(targetHost, targetPort);
    }

    /// <summary>Forgets outstanding publishes and the maximum, e.g. after a warm-up phase.</summary>
    public void ResetOutstandingCounters()
    {
        lock (_outstandingLock)
        {
            _outstanding.Clear();
            _maxOutstanding = 0;
        }
    }

    /// <summary>Snapshot of <see cref="Seen"/> filtered by type and optionally direction.</summary>
    public IReadOnlyList<MqttProxyPacket> SeenOfType(int type, MqttProxyDirection? direction = null) =>
        Seen.Where(p => p.Type == type && (direction is null || p.Direction == direction)).ToArray();

    /// <summary>
    /// Aborts every open client/broker pair with a TCP RST on both sides (SO_LINGER 0), the way
    /// a crashed NAT box or a pulled cable followed by a timeout would look to both peers.
    /// </summary>
    public void ResetAllConnections()
    {
        foreach (var connection in _connections.Values)
        {
            connection.Abort();
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _shutdown.CancelAsync().ConfigureAwait(false);
        _listener.Stop();

        foreach (var connection in _connections.Values)
        {
            connection.Abort();
        }

        try
        {
            await _acceptLoop.WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
            await Task.WhenAll(_tasks.Values).WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // Sockets are closed; a straggling task cannot do anything harmful any more.
        }

        _shutdown.Dispose();
    }

    private async Task AcceptLoopAsync()
    {
        var token = _shutdown.Token;
        while (!token.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptSocketAsync(token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or SocketException or InvalidOperationException)
            {
                if (token.IsCancellationRequested)
                {
                    return;
                }

                continue;
            }

            var id = Interlocked.Increment(ref _nextConnectionId);
            if (_refuseConnections)
            {
                MqttProxyConnection.CloseQuietly(client);
                continue;
            }

            Track(HandleConnectionAsync(id, client, token));
        }
    }

    private void Track(Task task)
    {
        var key = Interlocked.Increment(ref _nextTaskId);
        _tasks[key] = task;
        _ = task.ContinueWith(_ => _tasks.TryRemove(key, out Task? _), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    private async Task HandleConnectionAsync(int id, Socket client, CancellationToken token)
    {
        Socket? broker = null;
        try
        {
            client.NoDelay = true;
            broker = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            using (var connectTimeout = CancellationTokenSource.CreateLinkedTokenSource(token))
            {
                connectTimeout.CancelAfter(TimeSpan.FromSeconds(5));
                await broker.ConnectAsync(_targetHost, _targetPort, connectTimeout.Token).ConfigureAwait(false);
            }
        }
        catch (Exception)
        {
            // Broker down or proxy shutting down: the client just sees its connection closed,
            // which is what it would see if the broker were unreachable.
            MqttProxyConnection.CloseQuietly(client);
            if (broker is not null)
            {
                MqttProxyConnection.CloseQuietly(broker);
            }

            return;
        }

        var connection = new MqttProxyConnection(id, client, broker);
        _connections[id] = connection;
        try
        {
            var up = PumpAsync(connection, MqttProxyDirection.ClientToBroker, token);
            var down = PumpAsync(connection, MqttProxyDirection.BrokerToClient, token);
            await Task.WhenAll(up, down).ConfigureAwait(false);
        }
        finally
        {
            connection.Abort();
            _connections.TryRemove(id, out _);
        }
    }

    private async Task PumpAsync(MqttProxyConnection connection, MqttProxyDirection direction, CancellationToken token)
    {
        var from = direction == MqttProxyDirection.ClientToBroker ? connection.Client : connection.Broker;
        var to = direction == MqttProxyDirection.ClientToBroker ? connection.Broker : connection.Client;
        var closeBoth = true;

        try
        {
            await using var input = new BufferedStream(new NetworkStream(from, ownsSocket: false), 64 * 1024);
            await using var output = new NetworkStream(to, ownsSocket: false);
            var header = new byte[5];
            var stalled = false;

            while (!token.IsCancellationRequested)
            {
                var raw = await MqttProxyDecoder.ReadPacketAsync(input, header, token).ConfigureAwait(false);
                if (raw is null)
                {
                    break;
                }

                var packet = MqttProxyDecoder.Decode(raw, direction, connection.Id, connection.ClientId);
                if (packet.Type == MqttPacketType.Connect)
                {
                    // The connection's later packets carry it, so that outstanding publishes are keyed across reconnects.
                    connection.ClientId = packet.ClientId;
                }

                if (!stalled && direction == MqttProxyDirection.ClientToBroker && (StallFromClient?.Invoke(packet) ?? false))
                {
                    await output.WriteAsync(raw.AsMemory(0, raw.Length / 2), token).ConfigureAwait(false);
                    stalled = true;
                }

                var filter = direction == MqttProxyDirection.ClientToBroker ? DropFromClient : DropFromBroker;
                var drop = _blackHole || stalled || (filter?.Invoke(packet) ?? false);
                if (drop)
                {
                    packet = packet with { Dropped = true };
                }

                UpdateOutstanding(packet);
                Seen.Enqueue(packet);
                PacketSeen?.Invoke(packet);

                if (!drop)
                {
                    await output.WriteAsync(raw, token).ConfigureAwait(false);
                }
            }

            // Orderly EOF. In a black hole the peer must not learn about it (half-open link).
            if (!_blackHole)
            {
                connection.Close();
                return;
            }

            closeBoth = false;
        }
        catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException or OperationCanceledException or EndOfStreamException)
        {
            // Ordinary ways for a connection to end: peer reset, our own Abort, shutdown.
            closeBoth = !_blackHole || token.IsCancellationRequested;
        }
#pragma warning disable CA1031 // A background pump must never crash the test process; the error is kept for inspection.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            Errors.Enqueue(ex);
        }

        if (closeBoth)
        {
            connection.Abort();
        }
        else
        {
            MqttProxyConnection.CloseQuietly(from);
        }
    }

    private void UpdateOutstanding(MqttProxyPacket packet)
    {
        if (packet.PacketId is not { } id)
        {
            return;
        }

        var key = (packet.ClientId ?? "#" + packet.ConnectionId, id);
        lock (_outstandingLock)
        {
            if (packet.Direction == MqttProxyDirection.ClientToBroker)
            {
                // What the client emitted counts even if we drop it: the client believes it is in flight.
                if (packet.Type == MqttPacketType.Publish && packet.Qos > 0 && _outstanding.Add(key))
                {
                    _maxOutstanding = Math.Max(_maxOutstanding, _outstanding.Count);
                }
            }
            else if (!packet.Dropped)
            {
                // Only an acknowledgement the client actually receives completes the flow.
                // A PUBREC with a failure reason (>= 0x80, MQTT 5) also ends a QoS 2 flow.
                var completes = packet.Type is MqttPacketType.PubAck or MqttPacketType.PubComp
                    || (packet.Type == MqttPacketType.PubRec && packet.ReasonCode >= 0x80);
                if (completes)
                {
                    _outstanding.Remove(key);
                }
            }
        }
    }
}
