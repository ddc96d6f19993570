using System.Net;
using System.Net.Sockets;

namespace StoreForward.Tests.Infrastructure;

/// <summary>Free loopback ports for brokers and clients that must never talk to anything but 127.0.0.1.</summary>
public static class LoopbackPort
{
    // Below Linux's ephemeral range (32768–60999 by default), from which the OS gives every outgoing connection its local
    // port: a broker that is stopped and started again on its port (a RabbitMQ node's start_app, a Mosquitto restart)
    // must not find it taken by some client's connection meanwhile, which made a node fail to boot.
    private const int First = 20000;
    private const int Last = 32767;

    /// <summary>
    /// A loopback port nothing listens on right now, outside the range the OS takes outgoing connections' ports from.
    /// Another process may take it before the caller does; callers that bind it retry with another.
    /// </summary>
    public static int Unused()
    {
        for (var attempt = 0; attempt < 100; attempt++)
        {
            var port = Random.Shared.Next(First, Last + 1);
            if (TryListen(port))
                return port;
        }

        // Crowded: let the OS pick one.
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var picked = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return picked;
    }

    private static bool TryListen(int port)
    {
        var listener = new TcpListener(IPAddress.Loopback, port);
        try
        {
            listener.Start();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
        finally
        {
            listener.Stop();
        }
    }
}
