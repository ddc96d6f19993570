using System.Threading.Channels;
using MQTTnet.Formatter;
using MQTTnet.Packets;
using MQTTnet.Protocol;
using StoreForward.Session;
using StoreForward.Transport;

namespace StoreForward.Tests.Infrastructure;

/// <summary>
/// A broker the test plays by hand, behind the session's <see cref="IBrokerLink"/>: the test reads each packet the session
/// sends and writes each answer, so the session's decisions are checked packet by packet, without sockets or timing.
/// </summary>
internal sealed class ScriptedBroker : IBrokerLink
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);
    private readonly Channel<MqttPacket> _sent = Channel.CreateUnbounded<MqttPacket>();
    private readonly Channel<MqttPacket> _answers = Channel.CreateUnbounded<MqttPacket>();

    public ScriptedBroker(bool sessionPresent = true, int receiveMaximum = ushort.MaxValue, MqttProtocolVersion version = MqttProtocolVersion.V500, MqttCredentials? credentials = null)
    {
        ProtocolVersion = version;
        Credentials = credentials ?? new MqttCredentials(null, null);
        Limits = new BrokerLimits(receiveMaximum, MqttQualityOfServiceLevel.ExactlyOnce, true, 0, null, sessionPresent);
    }

    public MqttProtocolVersion ProtocolVersion { get; }

    public BrokerEndpoint Endpoint { get; } = new("scripted.test", 1883, false);

    public BrokerLimits Limits { get; }

    /// <summary>What the session's link was made with, as the test says.</summary>
    public MqttCredentials Credentials { get; }

    // The link never looks quiet: the keep-alive is not what these tests are about.
    public TimeSpan SinceLastSent => TimeSpan.Zero;

    public TimeSpan SinceLastReceived => TimeSpan.Zero;

    public Task SendAsync(MqttPacket packet, CancellationToken cancellationToken)
    {
        _sent.Writer.TryWrite(packet);
        return Task.CompletedTask;
    }

    public Task SendAsync(IReadOnlyList<MqttPacket> packets, CancellationToken cancellationToken)
    {
        foreach (var packet in packets)
            _sent.Writer.TryWrite(packet);
        return Task.CompletedTask;
    }

    public async Task<MqttPacket> ReceiveAsync(CancellationToken cancellationToken) =>
        await _answers.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);

    /// <summary>DISCONNECT is recorded like any packet, and the broker then closes the link, as a broker does.</summary>
    public Task SendDisconnectAsync(TimeSpan timeout)
    {
        _sent.Writer.TryWrite(new MqttDisconnectPacket());
        _answers.Writer.TryComplete();
        return Task.CompletedTask;
    }

    /// <summary>The broker sends <paramref name="packet"/>.</summary>
    public void Answer(MqttPacket packet) => _answers.Writer.TryWrite(packet);

    /// <summary>The link breaks under the session.</summary>
    public void Break() => _answers.Writer.TryComplete(new IOException("The scripted link broke."));

    /// <summary>The next packet the session sent, PINGREQ skipped.</summary>
    public async Task<T> ExpectAsync<T>()
        where T : MqttPacket =>
        Assert.IsType<T>(await NextAsync());

    /// <summary>The next <paramref name="count"/> packets the session sent, in order, PINGREQ skipped.</summary>
    public async Task<List<MqttPacket>> ExpectAsync(int count)
    {
        var packets = new List<MqttPacket>();
        while (packets.Count < count)
            packets.Add(await NextAsync());
        return packets;
    }

    // The keep-alive's PINGREQ can come between any two packets; no test is about it.
    private async Task<MqttPacket> NextAsync()
    {
        while (true)
        {
            var packet = await _sent.Reader.ReadAsync().AsTask().WaitAsync(Patience);
            if (packet is not MqttPingReqPacket)
                return packet;
        }
    }

    /// <summary>Packets sent and not read yet, PINGREQ left out.</summary>
    public List<MqttPacket> SentSoFar()
    {
        var packets = new List<MqttPacket>();
        while (_sent.Reader.TryRead(out var packet))
        {
            if (packet is not MqttPingReqPacket)
                packets.Add(packet);
        }

        return packets;
    }
}
