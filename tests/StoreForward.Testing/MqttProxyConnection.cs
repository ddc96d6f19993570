using System.Net.Sockets;

namespace StoreForward.Tests.Infrastructure;

/// <summary>One client connection of an <see cref="MqttTcpProxy"/> and the broker connection it opened for it.</summary>
internal sealed class MqttProxyConnection(int id, Socket client, Socket broker)
{
    private int _closed;
    private string? _clientId;

    public int Id { get; } = id;

    public Socket Client { get; } = client;

    public Socket Broker { get; } = broker;

    /// <summary>Set when the CONNECT passes by; used to key outstanding publishes across reconnects.</summary>
    public string? ClientId
    {
        get => Volatile.Read(ref _clientId);
        set => Volatile.Write(ref _clientId, value);
    }

    /// <summary>Orderly close of both sockets (FIN): mirrors a peer that closed its side normally.</summary>
    public void Close() => CloseBoth(abortive: false);

    /// <summary>Closes both sockets with RST (linger 0) so neither side gets an orderly FIN.</summary>
    public void Abort() => CloseBoth(abortive: true);

    /// <summary>Closes <paramref name="socket"/>, which may be closed already.</summary>
    internal static void CloseQuietly(Socket socket)
    {
        try
        {
            socket.Close();
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // Already closed.
        }
    }

    private void CloseBoth(bool abortive)
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0)
        {
            return;
        }

        foreach (var socket in new[] { Client, Broker })
        {
            if (abortive)
            {
                try
                {
                    socket.LingerState = new LingerOption(true, 0);
                }
                catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
                {
                    // Socket already gone; closing below is still attempted.
                }
            }

            CloseQuietly(socket);
        }
    }
}
