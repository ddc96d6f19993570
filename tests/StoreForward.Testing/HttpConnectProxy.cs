using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace StoreForward.Tests.Infrastructure;

/// <summary>
/// An HTTP proxy on 127.0.0.1 that knows one verb, CONNECT: it checks Basic credentials when it has some (407 when they
/// are missing or wrong), opens the tunnel and pipes bytes both ways. Whatever host a request names, the tunnel goes to
/// that port on 127.0.0.1: a test can name a host that exists nowhere (.NET never sends loopback addresses through a
/// proxy, and the client does not resolve a name the proxy resolves), and nothing leaves the machine. Enough for a
/// <c>wss://</c> connection through a corporate proxy; it records each request it saw.
/// </summary>
public sealed class HttpConnectProxy : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly string? _expectedAuthorization;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentQueue<string> _requests = new();
    private readonly Task _accepting;

    private HttpConnectProxy(string? username, string? password)
    {
        _expectedAuthorization = username is null ? null : "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes($"{username}:{password}"));
        _listener.Start();
        _accepting = AcceptAsync();
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    public string Address => $"http://127.0.0.1:{Port}";

    /// <summary>Each request's first line and whether it was let through: <c>CONNECT 127.0.0.1:1234 HTTP/1.1 -> 200</c>.</summary>
    public IReadOnlyCollection<string> Requests => _requests;

    public static HttpConnectProxy Start(string? username = null, string? password = null) => new(username, password);

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            _ = ServeAsync(client);
        }
    }

    private async Task ServeAsync(TcpClient client)
    {
        using (client)
        {
            var stream = client.GetStream();
            var (requestLine, headers) = await ReadHeadAsync(stream);
            var parts = requestLine.Split(' ');
            string status;
            if (parts.Length != 3 || parts[0] != "CONNECT")
                status = "405 Method Not Allowed";
            else if (_expectedAuthorization is not null && !headers.Contains($"Proxy-Authorization: {_expectedAuthorization}", StringComparer.OrdinalIgnoreCase))
                status = "407 Proxy Authentication Required";
            else if (!int.TryParse(parts[1][(parts[1].LastIndexOf(':') + 1)..], System.Globalization.CultureInfo.InvariantCulture, out _))
                status = "400 Bad Request";
            else
                status = "200 Connection established";
            _requests.Enqueue($"{requestLine} -> {status[..3]}");

            var extra = status.StartsWith("407", StringComparison.Ordinal) ? "Proxy-Authenticate: Basic realm=\"test\"\r\n" : "";
            await stream.WriteAsync(Encoding.ASCII.GetBytes($"HTTP/1.1 {status}\r\n{extra}Content-Length: 0\r\n\r\n"), _stop.Token);
            if (!status.StartsWith("200", StringComparison.Ordinal))
                return;

            using var target = new TcpClient();
            try
            {
                await target.ConnectAsync(IPAddress.Loopback, int.Parse(parts[1][(parts[1].LastIndexOf(':') + 1)..], System.Globalization.CultureInfo.InvariantCulture), _stop.Token);
            }
            catch (SocketException)
            {
                return;
            }

            var targetStream = target.GetStream();
            using var done = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
            await Task.WhenAny(CopyAsync(stream, targetStream, done.Token), CopyAsync(targetStream, stream, done.Token));
            await done.CancelAsync();
        }
    }

    private static async Task CopyAsync(Stream from, Stream to, CancellationToken token)
    {
        try
        {
            await from.CopyToAsync(to, token);
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException)
        {
        }
    }

    /// <summary>The request line and header lines, read byte by byte up to the blank line, so no tunnel byte is consumed.</summary>
    private static async Task<(string RequestLine, List<string> Headers)> ReadHeadAsync(NetworkStream stream)
    {
        var head = new StringBuilder();
        var one = new byte[1];
        while (!head.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal) && head.Length < 16 * 1024)
        {
            if (await stream.ReadAsync(one) == 0)
                break;
            head.Append((char)one[0]);
        }

        var lines = head.ToString().Split("\r\n", StringSplitOptions.RemoveEmptyEntries).ToList();
        return lines.Count == 0 ? ("", []) : (lines[0], lines.Skip(1).ToList());
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        await _accepting;
        _stop.Dispose();
    }
}
