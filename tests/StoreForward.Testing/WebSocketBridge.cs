using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace StoreForward.Tests.Infrastructure;

/// <summary>
/// MQTT over WebSockets in front of a TCP broker, on 127.0.0.1 only: Kestrel accepts WebSocket connections (subprotocol
/// <c>mqtt</c>) on <see cref="Path"/>, plain or, with a certificate, TLS, and pipes each one to its own TCP connection to
/// the broker. Mosquitto 2.0.11's own websockets listener binds every interface whatever address it is given, so the
/// tests use this instead. When the broker is down or goes away, the WebSocket is closed, as a broker's own listener would.
/// </summary>
public sealed class WebSocketBridge : IAsyncDisposable
{
    public const string Path = "/mqtt";

    private readonly WebApplication _app;
    private int _accepted;

    private WebSocketBridge(WebApplication app) => _app = app;

    public int Port { get; private set; }

    /// <summary>WebSocket connections accepted so far.</summary>
    public int Accepted => Volatile.Read(ref _accepted);

    /// <summary>The server entry for StoreForward: <c>ws://127.0.0.1:port/mqtt</c>, or <c>wss://</c> with TLS.</summary>
    public string Uri(bool tls) => $"{(tls ? "wss" : "ws")}://127.0.0.1:{Port}{Path}";

    public static async Task<WebSocketBridge> StartAsync(string brokerHost, int brokerPort, X509Certificate2? certificate = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0, listen =>
        {
            if (certificate is not null)
                listen.UseHttps(certificate);
        }));
        var app = builder.Build();
        var bridge = new WebSocketBridge(app);
        app.UseWebSockets();
        app.Map(Path, context => bridge.BridgeAsync(context, brokerHost, brokerPort));
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        bridge.Port = new System.Uri(address).Port;
        return bridge;
    }

    private async Task BridgeAsync(HttpContext context, string brokerHost, int brokerPort)
    {
        if (!context.WebSockets.IsWebSocketRequest || !context.WebSockets.WebSocketRequestedProtocols.Contains("mqtt"))
        {
            context.Response.StatusCode = StatusCodes.Status400BadRequest;
            return;
        }

        using var webSocket = await context.WebSockets.AcceptWebSocketAsync("mqtt");
        Interlocked.Increment(ref _accepted);
        using var broker = new TcpClient();
        try
        {
            await broker.ConnectAsync(brokerHost, brokerPort, context.RequestAborted);
        }
        catch (SocketException)
        {
            await CloseQuietlyAsync(webSocket, WebSocketCloseStatus.EndpointUnavailable);
            return;
        }

        var stream = broker.GetStream();
        using var done = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
        var up = PumpUpAsync(webSocket, stream, done.Token);
        var down = PumpDownAsync(stream, webSocket, done.Token);
        await Task.WhenAny(up, down);
        await done.CancelAsync();
        await CloseQuietlyAsync(webSocket, WebSocketCloseStatus.NormalClosure);
        await Task.WhenAll(up, down).ContinueWith(_ => { }, TaskScheduler.Default);
    }

    /// <summary>Client to broker: every WebSocket message's bytes, in order, as MQTT allows packets to span messages.</summary>
    private static async Task PumpUpAsync(WebSocket webSocket, NetworkStream broker, CancellationToken token)
    {
        var buffer = new byte[64 * 1024];
        try
        {
            while (true)
            {
                var received = await webSocket.ReceiveAsync(buffer, token);
                if (received.MessageType == WebSocketMessageType.Close)
                    return;
                await broker.WriteAsync(buffer.AsMemory(0, received.Count), token);
            }
        }
        catch (Exception e) when (e is WebSocketException or IOException or OperationCanceledException)
        {
        }
    }

    /// <summary>Broker to client: what the broker sends, as binary messages.</summary>
    private static async Task PumpDownAsync(NetworkStream broker, WebSocket webSocket, CancellationToken token)
    {
        var buffer = new byte[64 * 1024];
        try
        {
            int read;
            while ((read = await broker.ReadAsync(buffer, token)) > 0)
                await webSocket.SendAsync(buffer.AsMemory(0, read), WebSocketMessageType.Binary, endOfMessage: true, token);
        }
        catch (Exception e) when (e is WebSocketException or IOException or OperationCanceledException)
        {
        }
    }

    private static async Task CloseQuietlyAsync(WebSocket webSocket, WebSocketCloseStatus status)
    {
        try
        {
            if (webSocket.State is WebSocketState.Open or WebSocketState.CloseReceived)
                await webSocket.CloseOutputAsync(status, null, CancellationToken.None);
        }
        catch (Exception e) when (e is WebSocketException or IOException or OperationCanceledException)
        {
        }
    }

    /// <summary>Stops at once: a graceful stop would wait up to 30 s for the publisher's live WebSocket to end.</summary>
    public async ValueTask DisposeAsync()
    {
        using var now = new CancellationTokenSource();
        await now.CancelAsync();
        await _app.StopAsync(now.Token);
        await _app.DisposeAsync();
    }
}
