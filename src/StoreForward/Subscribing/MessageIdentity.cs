using System.Globalization;
using System.Text;
using MQTTnet.Packets;

namespace StoreForward.Subscribing;

/// <summary>
/// The MQTT 5 user properties with which <see cref="StoreForwardOptions.StampMessageIdentity"/> marks every message: the
/// publisher's ClientId and the message's sequence (from its <see cref="PublishReceipt"/>). Together they name a message
/// across resends, reconnects and app restarts, so a subscriber can drop repeats (<see cref="DuplicateFilter"/>).
/// </summary>
public static class MessageIdentity
{
    /// <summary>User property holding the publisher's ClientId.</summary>
    public const string ClientIdProperty = "sf-client-id";

    /// <summary>User property holding the message's sequence, in decimal.</summary>
    public const string SequenceProperty = "sf-sequence";

    internal static MqttUserProperty[] Stamp(string clientId, long sequence) =>
    [
        new(ClientIdProperty, Encoding.UTF8.GetBytes(clientId).AsMemory()),
        new(SequenceProperty, Encoding.UTF8.GetBytes(sequence.ToString(CultureInfo.InvariantCulture)).AsMemory()),
    ];

    /// <summary>Bytes the stamp adds to a PUBLISH's properties: two user properties (identifier and two lengths each).</summary>
    internal static long EncodedLength(string clientId, long sequence) =>
        10 + ClientIdProperty.Length + SequenceProperty.Length + Encoding.UTF8.GetByteCount(clientId)
        + sequence.ToString(CultureInfo.InvariantCulture).Length;
}
