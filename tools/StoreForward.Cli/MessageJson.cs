using System.Text.Json;
using MQTTnet.Packets;
using System.Text.Json.Serialization;
using StoreForward.Outbox;

namespace StoreForward.Cli;

/// <summary>
/// A stored message as <c>peek --json</c> and <c>export --jsonl</c> write it, and a dead letter with why it was set
/// aside. The payload is always there in base64, and also as text when it is printable UTF-8.
/// </summary>
internal sealed record MessageJson(
    long Sequence,
    string Topic,
    int Qos,
    bool Retain,
    string? State,
    DateTimeOffset StoredAt,
    DateTimeOffset? ExpiresAt,
    int Size,
    string Payload,
    string? PayloadText,
    string? ContentType,
    int? PayloadFormat,
    string? ResponseTopic,
    string? CorrelationData,
    IReadOnlyList<UserPropertyJson>? UserProperties,
    string? Reason,
    int? ReasonCode,
    string? Detail)
{
    /// <summary>The tool's names for the stored marks, as <c>stats</c> counts them; scripts read them, so they stay.</summary>
    private static string StateName(StoredMark mark) => mark switch
    {
        StoredMark.Unsent => "queued",
        StoredMark.Sent => "published",
        _ => "released",
    };

    public static MessageJson Of(OutboxMessage message, DeadLetter? letter = null)
    {
        var properties = message.Properties;
        return new MessageJson(
            message.Sequence,
            message.Topic,
            (int)message.Qos,
            message.Retain,
            letter is null ? StateName(message.Mark) : null,
            message.StoredAt,
            message.ExpiresAt,
            message.Payload.Length,
            Convert.ToBase64String(message.Payload),
            global::StoreForward.Cli.PayloadText.AsPrintableText(message.Payload),
            properties?.ContentType,
            properties is { PayloadFormat: not MQTTnet.Protocol.MqttPayloadFormatIndicator.Unspecified } ? (int)properties.PayloadFormat : null,
            properties?.ResponseTopic,
            properties?.CorrelationData is { } correlation ? Convert.ToBase64String(correlation) : null,
            properties is { UserProperties.Count: > 0 } ? [.. properties.UserProperties.Select(p => new UserPropertyJson(p.Name, p.ReadValueAsString()))] : null,
            letter is null ? null : JsonNamingPolicy.CamelCase.ConvertName(letter.Reason.ToString()),
            letter?.ReasonCode,
            letter?.Detail);
    }
}

/// <summary>An MQTT 5 user property.</summary>
internal sealed record UserPropertyJson(string Name, string Value);

/// <summary>The JSON the tool writes: camelCase, nulls left out; indented for a result, one line per record for export.</summary>
internal static class CliJson
{
    public static JsonSerializerOptions Indented { get; } = Create(indented: true);

    public static JsonSerializerOptions Lines { get; } = Create(indented: false);

    private static JsonSerializerOptions Create(bool indented) =>
        new(JsonSerializerDefaults.Web)
        {
            WriteIndented = indented,
            DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
            Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
        };

    public static void Write<T>(CliEnvironment environment, T value) => environment.WriteRaw(JsonSerializer.Serialize(value, Indented));
}
