using System.Text;
using LiteDB;
using MQTTnet;
using MQTTnet.Packets;
using MQTTnet.Protocol;

namespace StoreForward.Outbox;

/// <summary>
/// The MQTT 5 properties a message carries through the outbox unchanged. Null on a message that has none, so a plain
/// message costs nothing extra in the store.
/// </summary>
internal sealed record MessageProperties(
    string? ContentType,
    MqttPayloadFormatIndicator PayloadFormat,
    string? ResponseTopic,
    byte[]? CorrelationData,
    IReadOnlyList<MqttUserProperty> UserProperties)
{
    private const string ContentTypeKey = "ct";
    private const string PayloadFormatKey = "pf";
    private const string ResponseTopicKey = "rt";
    private const string CorrelationDataKey = "cd";
    private const string UserPropertiesKey = "up";

    /// <summary>The properties of <paramref name="message"/>, copied; null when it has none.</summary>
    public static MessageProperties? Of(MqttApplicationMessage message) =>
        OrNull(
            message.ContentType,
            message.PayloadFormatIndicator,
            message.ResponseTopic,
            message.CorrelationData?.ToArray(),
            message.UserProperties is { Count: > 0 } list ? [.. list.Select(p => new MqttUserProperty(p.Name, p.ValueBuffer.ToArray()))] : []);

    /// <summary>The properties, or null when none is set: a plain message carries no properties object.</summary>
    private static MessageProperties? OrNull(
        string? contentType, MqttPayloadFormatIndicator payloadFormat, string? responseTopic, byte[]? correlationData, List<MqttUserProperty> userProperties) =>
        contentType is null && payloadFormat == MqttPayloadFormatIndicator.Unspecified && responseTopic is null && correlationData is null && userProperties.Count == 0
            ? null
            : new MessageProperties(contentType, payloadFormat, responseTopic, correlationData, userProperties);

    /// <summary>Bytes these properties add to a PUBLISH's property block (identifier and value each).</summary>
    public long EncodedLength =>
        (ContentType is null ? 0 : 3 + Encoding.UTF8.GetByteCount(ContentType))
        + (PayloadFormat == MqttPayloadFormatIndicator.Unspecified ? 0 : 2)
        + (ResponseTopic is null ? 0 : 3 + Encoding.UTF8.GetByteCount(ResponseTopic))
        + (CorrelationData is null ? 0 : 3 + CorrelationData.Length)
        + UserProperties.Sum(p => 5L + Encoding.UTF8.GetByteCount(p.Name) + p.ValueBuffer.Length);

    public void ApplyTo(MqttPublishPacket packet)
    {
        packet.ContentType = ContentType;
        packet.PayloadFormatIndicator = PayloadFormat;
        packet.ResponseTopic = ResponseTopic;
        packet.CorrelationData = CorrelationData;
        if (UserProperties.Count > 0)
            packet.UserProperties = [.. UserProperties];
    }

    public void WriteTo(BsonDocument document)
    {
        if (ContentType is not null)
            document[ContentTypeKey] = ContentType;
        if (PayloadFormat != MqttPayloadFormatIndicator.Unspecified)
            document[PayloadFormatKey] = (int)PayloadFormat;
        if (ResponseTopic is not null)
            document[ResponseTopicKey] = ResponseTopic;
        if (CorrelationData is not null)
            document[CorrelationDataKey] = CorrelationData;
        if (UserProperties.Count > 0)
            document[UserPropertiesKey] = new BsonArray(UserProperties.Select(p => new BsonDocument { ["n"] = p.Name, ["v"] = p.ValueBuffer.ToArray() }));
    }

    /// <summary>The properties <see cref="WriteTo"/> wrote into <paramref name="document"/>, or null when it holds none.</summary>
    public static MessageProperties? ReadFrom(BsonDocument document)
    {
        var contentType = document.TryGetValue(ContentTypeKey, out var ct) ? StoredField.String(ct, ContentTypeKey) : null;
        var payloadFormat = document.TryGetValue(PayloadFormatKey, out var pf) ? (MqttPayloadFormatIndicator)StoredField.Int32(pf, PayloadFormatKey, 0, 1) : MqttPayloadFormatIndicator.Unspecified;
        var responseTopic = document.TryGetValue(ResponseTopicKey, out var rt) ? StoredField.String(rt, ResponseTopicKey) : null;
        var correlationData = document.TryGetValue(CorrelationDataKey, out var cd) ? StoredField.Binary(cd, CorrelationDataKey) : null;
        var userProperties = document.TryGetValue(UserPropertiesKey, out var up)
            ? StoredField.Array(up, UserPropertiesKey).Select(p =>
            {
                var property = StoredField.Document(p, UserPropertiesKey);
                return new MqttUserProperty(StoredField.String(property["n"], "up.n"), (ReadOnlyMemory<byte>)StoredField.Binary(property["v"], "up.v"));
            }).ToList()
            : [];
        return OrNull(contentType, payloadFormat, responseTopic, correlationData, userProperties);
    }
}
