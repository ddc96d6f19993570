using System.Text;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.LowLevelClient;
using MQTTnet.Packets;
using MQTTnet.Protocol;

namespace StoreForward.Transport;

/// <summary>
/// One MQTT connection over MQTTnet's <see cref="ILowLevelMqttClient"/>. The high-level client cannot resume a session:
/// it never resends, restarts packet ids at 1 on every connect and ignores Receive Maximum. At this level we send the
/// packets ourselves, with the ids and DUP flags the outbox recorded.
/// </summary>
internal sealed class MqttConnection : IBrokerLink, IAsyncDisposable
{
    private static readonly MqttClientFactory Factory = new();
    private readonly ILowLevelMqttClient _client;
    private readonly BatchingAdapterFactory _adapters;
    private readonly TimeProvider _time;

    // The TLS settings this connection was made with: the certificates read for it live as long as it does.
    private readonly BrokerTls? _tls;
    private long _lastSent;
    private long _lastReceived;

    private MqttConnection(ILowLevelMqttClient client, BatchingAdapterFactory adapters, TimeProvider time, MqttProtocolVersion version, BrokerEndpoint endpoint, BrokerTls? tls)
    {
        _client = client;
        Endpoint = endpoint;
        _tls = tls;
        _adapters = adapters;
        _time = time;
        ProtocolVersion = version;
        _lastSent = _lastReceived = time.GetTimestamp();
    }

    public MqttProtocolVersion ProtocolVersion { get; }

    /// <summary>The server this connection is with.</summary>
    public BrokerEndpoint Endpoint { get; }

    public BrokerLimits Limits { get; private set; } = null!;

    public MqttCredentials Credentials { get; private set; } = null!;

    /// <summary>Time since the last packet went out.</summary>
    public TimeSpan SinceLastSent => _time.GetElapsedTime(Interlocked.Read(ref _lastSent));

    /// <summary>Time since the last packet came in.</summary>
    public TimeSpan SinceLastReceived => _time.GetElapsedTime(Interlocked.Read(ref _lastReceived));

    /// <summary>
    /// Opens TCP to <paramref name="endpoint"/>, sends CONNECT and waits for CONNACK. The session is resumed unless <paramref name="cleanStart"/> asks the
    /// broker to discard what it keeps under this ClientId. Throws <see cref="MqttConnectionRefusedException"/>
    /// when the broker refuses, and <see cref="TimeoutException"/> when it takes longer than the connect timeout.
    /// </summary>
    public static async Task<MqttConnection> ConnectAsync(ConnectionSettings settings, BrokerEndpoint endpoint, bool cleanStart, CancellationToken cancellationToken)
    {
        using var timeout = new CancellationTokenSource(settings.ConnectTimeout, settings.Time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        var adapters = new BatchingAdapterFactory();
        var client = Factory.CreateLowLevelMqttClient(adapters);
        BrokerTls? tls = null;
        try
        {
            var credentials = await ConnectAuthentication.CredentialsAsync(settings, endpoint, linked.Token).ConfigureAwait(false);
            tls = BrokerTls.Load(settings.Tls, endpoint);
            var builder = new MqttClientOptionsBuilder()
                .WithProtocolVersion(settings.ProtocolVersion)
                .WithTimeout(settings.ConnectTimeout);
            if (endpoint.WebSocketPath is null)
                builder.WithTcpServer(endpoint.Host, endpoint.Port);
            else
                builder.WithWebSocketServer(webSocket => Configure(webSocket, endpoint, settings.Proxy));
            tls?.Apply(builder, settings.Time.GetUtcNow());
            try
            {
                await client.ConnectAsync(builder.Build(), linked.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (tls is not null && e is not OperationCanceledException)
            {
                throw tls.Explain(e);
            }

            var connection = new MqttConnection(client, adapters, settings.Time, settings.ProtocolVersion, endpoint, tls);
            MqttPacket answer;
            try
            {
                await connection.SendAsync(CreateConnectPacket(settings, credentials, cleanStart), linked.Token).ConfigureAwait(false);
                answer = await connection.ReceiveAsync(linked.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (tls is not null && e is not OperationCanceledException)
            {
                throw new IOException($"The broker {endpoint} closed the TLS connection before it answered CONNECT ({e.Message}).{tls.ClientCertificateHint}", e);
            }

            answer = await ConnectAuthentication.AnswerChallengesAsync(connection, answer, credentials, settings, linked.Token).ConfigureAwait(false);
            if (answer is not MqttConnAckPacket connAck)
                throw new MqttProtocolException($"The broker answered CONNECT with {answer.GetType().Name} instead of CONNACK.");

            ThrowIfRefused(connAck, settings.ProtocolVersion, endpoint);
            connection.Credentials = credentials;
            connection.Limits = BrokerLimits.From(connAck, settings.ProtocolVersion, settings.BrokerMaximumQos);
            return connection;
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            client.Dispose();
            tls?.Dispose();
            throw new TimeoutException($"Connecting to {endpoint} took longer than {settings.ConnectTimeout}.");
        }
        catch
        {
            client.Dispose();
            tls?.Dispose();
            throw;
        }
    }

    /// <summary>MQTT over WebSockets to <paramref name="endpoint"/>'s URI (subprotocol <c>mqtt</c>), through the proxy if one is set.</summary>
    private static void Configure(MqttClientWebSocketOptionsBuilder webSocket, BrokerEndpoint endpoint, WebSocketProxyOptions? proxy)
    {
        webSocket.WithUri(endpoint.ToString());
        if (proxy is null)
            return;
        webSocket.WithProxyOptions(options => options
            .WithAddress(proxy.Address)
            .WithUsername(proxy.Username)
            .WithPassword(proxy.Password)
            .WithBypassList(proxy.BypassList)
            .WithBypassOnLocal(proxy.BypassOnLocal));
    }

    private static MqttConnectPacket CreateConnectPacket(ConnectionSettings settings, MqttCredentials credentials, bool cleanStart) =>
        new()
        {
            ClientId = settings.ClientId,
            CleanSession = cleanStart,
            KeepAlivePeriod = (ushort)settings.KeepAlive.TotalSeconds,
            // A clean connection only wipes the old session; it must not leave a new one behind.
            SessionExpiryInterval = settings.ProtocolVersion == MqttProtocolVersion.V500 && !cleanStart ? settings.SessionExpirySeconds : 0,
            WillFlag = settings.Will is not null,
            WillTopic = settings.Will?.Topic,
            WillMessage = settings.Will?.Payload,
            WillQoS = settings.Will?.Qos ?? MqttQualityOfServiceLevel.AtMostOnce,
            WillRetain = settings.Will is not null,
            WillDelayInterval = settings.ProtocolVersion == MqttProtocolVersion.V500 ? settings.Will?.DelaySeconds ?? 0 : 0,
            AuthenticationMethod = settings.ProtocolVersion == MqttProtocolVersion.V500 ? credentials.AuthenticationMethod : null,
            AuthenticationData = settings.ProtocolVersion == MqttProtocolVersion.V500 ? credentials.AuthenticationData : null,
            Username = credentials.Username,
            Password = credentials.Password is null ? null : Encoding.UTF8.GetBytes(credentials.Password),
        };

    private static void ThrowIfRefused(MqttConnAckPacket connAck, MqttProtocolVersion version, BrokerEndpoint endpoint)
    {
        if (version == MqttProtocolVersion.V500)
        {
            if (connAck.ReasonCode != MqttConnectReasonCode.Success)
                throw new MqttConnectionRefusedException(
                    $"The broker {endpoint} refused the connection: {connAck.ReasonCode} (0x{(int)connAck.ReasonCode:X2}){Explained(ConnectRefusal.Meaning(connAck.ReasonCode))}{(string.IsNullOrEmpty(connAck.ReasonString) ? "" : ": " + connAck.ReasonString)}.",
                    (int)connAck.ReasonCode);
        }
        else if (connAck.ReturnCode != MqttConnectReturnCode.ConnectionAccepted)
        {
            throw new MqttConnectionRefusedException(
                $"The broker {endpoint} refused the connection: {connAck.ReturnCode} ({(int)connAck.ReturnCode}){Explained(ConnectRefusal.Meaning(connAck.ReturnCode))}.",
                (int)connAck.ReturnCode);
        }
    }

    private static string Explained(string meaning) => meaning.Length == 0 ? "" : $", {meaning}";

    public async Task SendAsync(MqttPacket packet, CancellationToken cancellationToken)
    {
        await _client.SendAsync(packet, cancellationToken).ConfigureAwait(false);
        Interlocked.Exchange(ref _lastSent, _time.GetTimestamp());
    }

    /// <summary>Sends <paramref name="packets"/> in order, joined into as few socket writes as the channel allows.</summary>
    public async Task SendAsync(IReadOnlyList<MqttPacket> packets, CancellationToken cancellationToken)
    {
        var channel = _adapters.Channel!;
        channel.BeginBatch();
        try
        {
            foreach (var packet in packets)
                await _client.SendAsync(packet, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            // Even after a failed send: the batch must end, so that the keep-alive's PINGREQ is not held back.
            await channel.FlushAsync(cancellationToken).ConfigureAwait(false);
        }

        Interlocked.Exchange(ref _lastSent, _time.GetTimestamp());
    }

    public async Task<MqttPacket> ReceiveAsync(CancellationToken cancellationToken)
    {
        var packet = await _client.ReceiveAsync(cancellationToken).ConfigureAwait(false);
        Interlocked.Exchange(ref _lastReceived, _time.GetTimestamp());
        return packet;
    }

    /// <summary>Sends DISCONNECT (best effort: the link may already be gone; the broker keeps the session either way).</summary>
    public async Task SendDisconnectAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout, _time);
        try
        {
            await _client.SendAsync(new MqttDisconnectPacket(), cts.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (IsLinkGone(e))
        {
        }
    }

    /// <summary>Sends DISCONNECT and closes the socket.</summary>
    public async Task CloseGracefullyAsync(TimeSpan timeout)
    {
        await SendDisconnectAsync(timeout).ConfigureAwait(false);
        using var cts = new CancellationTokenSource(timeout, _time);
        try
        {
            await _client.DisconnectAsync(cts.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (IsLinkGone(e))
        {
        }
    }

    private static bool IsLinkGone(Exception e) =>
        e is OperationCanceledException or InvalidOperationException or MQTTnet.Exceptions.MqttCommunicationException or IOException or ObjectDisposedException;

    public ValueTask DisposeAsync()
    {
        _client.Dispose();
        _tls?.Dispose();
        return ValueTask.CompletedTask;
    }
}
