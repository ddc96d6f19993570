using System.Net.Sockets;

namespace StoreForward.Transport;

/// <summary>
/// Whether a server accepts TCP connections again. Only TCP: an MQTT CONNECT with our ClientId would take the session
/// over from the connection in use on a cluster, and a probe under another ClientId may be refused by the broker's ACL.
/// A server that accepts TCP but then refuses MQTT costs one reconnect: the round goes on to the next server.
/// </summary>
internal static class ServerProbe
{
    public static async Task<bool> AnswersAsync(BrokerEndpoint server, TimeSpan timeout, TimeProvider time, CancellationToken cancellationToken)
    {
        using var deadline = new CancellationTokenSource(timeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, deadline.Token);
        using var client = new TcpClient();
        try
        {
            await client.ConnectAsync(server.Host, server.Port, linked.Token).ConfigureAwait(false);
            return true;
        }
        catch (Exception e) when (e is SocketException || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            return false;
        }
    }
}
