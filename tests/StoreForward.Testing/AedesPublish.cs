using System.Globalization;
using MQTTnet.Protocol;

namespace StoreForward.Tests.Infrastructure;

/// <summary>
/// One PUBLISH as <c>tests/aedes/broker.js</c> logged it: either a packet a client sent (<c>publish</c> lines, every packet
/// including DUP resends) or a message aedes accepted and routed (<c>routed</c> lines, once per message: aedes drops a
/// QoS 2 resend of an id that still awaits PUBREL). <see cref="Dup"/> is always false for routed messages.
/// </summary>
/// <param name="ClientId">The client that sent it.</param>
/// <param name="Qos">Its QoS.</param>
/// <param name="Dup">The DUP flag of the packet.</param>
/// <param name="MessageId">The packet identifier, 0 for QoS 0.</param>
/// <param name="Retain">The RETAIN flag.</param>
/// <param name="Payload">The payload bytes.</param>
/// <param name="Topic">The topic.</param>
public sealed record AedesPublish(
    string ClientId, MqttQualityOfServiceLevel Qos, bool Dup, int MessageId, bool Retain, byte[] Payload, string Topic)
{
    /// <summary>Payload decoded as UTF-8, for tests that publish text.</summary>
    public string PayloadText => System.Text.Encoding.UTF8.GetString(Payload);

    /// <summary>Parses a <c>publish ID QOS DUP MESSAGEID RETAIN PAYLOAD TOPIC</c> line; null for any other line.</summary>
    public static AedesPublish? ParseReceived(string line)
    {
        if (!line.StartsWith("publish ", StringComparison.Ordinal))
            return null;
        var f = line.Split(' ', 8);
        return f.Length < 8 ? null : new AedesPublish(DecodeClientId(f[1]), DecodeQos(f[2]), f[3] == "1", DecodeMessageId(f[4]), f[5] == "1", DecodePayload(f[6]), f[7]);
    }

    /// <summary>Parses a <c>routed ID QOS MESSAGEID RETAIN PAYLOAD TOPIC</c> line; null for any other line.</summary>
    public static AedesPublish? ParseRouted(string line)
    {
        if (!line.StartsWith("routed ", StringComparison.Ordinal))
            return null;
        var f = line.Split(' ', 7);
        return f.Length < 7 ? null : new AedesPublish(DecodeClientId(f[1]), DecodeQos(f[2]), false, DecodeMessageId(f[3]), f[4] == "1", DecodePayload(f[5]), f[6]);
    }

    private static string DecodeClientId(string field) => Uri.UnescapeDataString(field);

    private static MqttQualityOfServiceLevel DecodeQos(string field) => (MqttQualityOfServiceLevel)int.Parse(field, CultureInfo.InvariantCulture);

    private static int DecodeMessageId(string field) => field == "-" ? 0 : int.Parse(field, CultureInfo.InvariantCulture);

    private static byte[] DecodePayload(string field) => field == "-" ? [] : Convert.FromBase64String(field);
}
