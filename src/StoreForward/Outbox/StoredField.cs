using LiteDB;

namespace StoreForward.Outbox;

/// <summary>
/// Typed reads of stored BSON fields. LiteDB's own getters return null for a value of another type (<c>AsString</c>,
/// <c>AsArray</c>, <c>AsBinary</c>) or convert it (<c>AsInt32</c> of a string parses it), so a damaged record would
/// surface later as a <see cref="NullReferenceException"/> or as a wrong value sent to the broker. These fail at once
/// with an <see cref="InvalidCastException"/> that names the field, which readers treat as "this record is unreadable".
/// </summary>
internal static class StoredField
{
    public static BsonDocument Document(BsonValue value, string field) => value.IsDocument ? value.AsDocument : throw Wrong(field, "a document", value);

    public static BsonArray Array(BsonValue value, string field) => value.IsArray ? value.AsArray : throw Wrong(field, "an array", value);

    public static string String(BsonValue value, string field) => value.IsString ? value.AsString : throw Wrong(field, "a string", value);

    public static byte[] Binary(BsonValue value, string field) => value.IsBinary ? value.AsBinary : throw Wrong(field, "binary", value);

    public static bool Boolean(BsonValue value, string field) => value.IsBoolean ? value.AsBoolean : throw Wrong(field, "a boolean", value);

    public static long Int64(BsonValue value, string field) => value.IsInt64 ? value.AsInt64 : throw Wrong(field, "a 64-bit integer", value);

    public static int Int32(BsonValue value, string field, int min, int max) =>
        value.IsInt32 && value.AsInt32 >= min && value.AsInt32 <= max ? value.AsInt32 : throw Wrong(field, $"an integer from {min} to {max}", value);

    /// <summary>A UTC time stored as ticks.</summary>
    public static DateTimeOffset Time(BsonValue value, string field)
    {
        var ticks = Int64(value, field);
        return ticks >= 0 && ticks <= DateTimeOffset.MaxValue.UtcTicks
            ? new DateTimeOffset(ticks, TimeSpan.Zero)
            : throw Wrong(field, "a time", value);
    }

    /// <summary>
    /// What <paramref name="read"/> reads, or <paramref name="fallback"/> where the record is unreadable: for describing a
    /// damaged record as far as it can be read.
    /// </summary>
    public static T Or<T>(Func<T> read, T fallback)
    {
        try
        {
            return read();
        }
        catch (Exception e) when (IsUnreadable(e))
        {
            return fallback;
        }
    }

    /// <summary>
    /// Whether <paramref name="e"/> is how reading a stored record fails: a field of the wrong type or range, a value
    /// LiteDB cannot convert, a missing member, a topic the validator refuses, or a sealed record that fails its check.
    /// </summary>
    public static bool IsUnreadable(Exception e) =>
        e is InvalidCastException or FormatException or OverflowException or KeyNotFoundException or ArgumentException
            or System.Security.Cryptography.CryptographicException;

    private static InvalidCastException Wrong(string field, string expected, BsonValue value) =>
        new($"The stored field '{field}' is {(value.IsNull ? "missing" : $"{value.Type}")}, not {expected}.");
}
