using System.Net;
using System.Net.Sockets;
using MQTTnet;
using MQTTnet.Server;

namespace StoreForward.Samples.Publisher;

/// <summary>
/// An MQTTnet broker hosted in the sample on a free 127.0.0.1 port, so that the sample runs without installing a broker,
/// and so that it can be stopped and started again to show the outbox at work.
/// </summary>
internal sealed class EmbeddedBroker : IAsyncDisposable
{
    private readonly MqttServer _server;
    private readonly Lock _gate = new();
    private List<MqttApplicationMessage> _savedRetainedMessages = [];

    private EmbeddedBroker(int port)
    {
        Port = port;
        var options = new MqttServerOptionsBuilder()
            .WithDefaultEndpoint()
            .WithDefaultEndpointBoundIPAddress(IPAddress.Loopback)
            .WithDefaultEndpointPort(port)
            .WithPersistentSessions() // Keeps sessions (subscriptions, queued messages) across the restart, in memory.
            .Build();
        _server = new MqttServerFactory().CreateMqttServer(options);

        // MQTTnet.Server does not store retained messages itself: it reports every change and asks for them on start,
        // and it is up to the host to persist them (a file, a database). The sample keeps them in memory, which is
        // enough to survive StopAsync/StartAsync. A real broker must persist them too; Mosquitto, for example, only
        // keeps retained messages across restarts with "persistence true" in mosquitto.conf.
        _server.RetainedMessageChangedAsync += e =>
        {
            lock (_gate)
                _savedRetainedMessages = [.. e.StoredRetainedMessages];
            return Task.CompletedTask;
        };
        _server.LoadingRetainedMessageAsync += e =>
        {
            lock (_gate)
                e.LoadedRetainedMessages = [.. _savedRetainedMessages];
            return Task.CompletedTask;
        };
    }

    public int Port { get; }

    public int SavedRetainedMessages
    {
        get
        {
            lock (_gate)
                return _savedRetainedMessages.Count;
        }
    }

    public static async Task<EmbeddedBroker> StartAsync()
    {
        var broker = new EmbeddedBroker(FindFreeLoopbackPort());
        await broker._server.StartAsync();
        Console.WriteLine($"[broker] embedded MQTTnet broker listening on 127.0.0.1:{broker.Port}");
        return broker;
    }

    /// <summary>Stops the broker: every client is disconnected and the port closes.</summary>
    public async Task StopAsync()
    {
        await _server.StopAsync(new MqttServerStopOptions());
        Console.WriteLine($"[broker] stopped (kept {SavedRetainedMessages} retained message(s) for the restart)");
    }

    /// <summary>Starts the stopped broker again on the same port; MQTTnet 5.2 allows StartAsync on the same instance.</summary>
    public async Task RestartAsync()
    {
        await _server.StartAsync();
        Console.WriteLine($"[broker] started again on 127.0.0.1:{Port} (restored {SavedRetainedMessages} retained message(s))");
    }

    public async ValueTask DisposeAsync()
    {
        if (_server.IsStarted)
            await _server.StopAsync(new MqttServerStopOptions());
        _server.Dispose();
    }

    private static int FindFreeLoopbackPort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        try
        {
            return ((IPEndPoint)listener.LocalEndpoint).Port;
        }
        finally
        {
            listener.Stop();
        }
    }
}
