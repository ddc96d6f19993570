using System.Globalization;
using LiteDB;

namespace StoreForward.Outbox;

/// <summary>The key an encrypted store's records are sealed under: the store's salt and the app key's id, never the key.</summary>
internal readonly record struct KeyBinding(byte[] Salt, string KeyId);

/// <summary>
/// The store's header: its document of the <c>meta</c> collection (one per publisher of a shared file, see
/// <see cref="Tenant"/>), which every commit of the store rewrites. It says that the file is an outbox and of which format
/// version, and holds the ClientId it belongs to, the counters, the removed and released sequence sets, the resend
/// counts, the broker session and, for an encrypted store, its key binding. Reading checks the format and the version;
/// writing always writes the current version, so a store of an older version becomes current with its first commit.
/// </summary>
/// <remarks>
/// Versions: 1 kept a row per PUBREC in a <c>released</c> collection (<see cref="OutboxStore"/> moves them into the
/// header in one commit when it opens such a store); 2 kept a document per message, which reads as a segment of one;
/// 3 keeps segments of messages. Putting the removed and released sets in the header, which every commit rewrites
/// anyway, makes marking a PUBREC or removing a message from a segment cost a bit, not a rewrite of the message.
/// </remarks>
internal sealed class MetaDocument
{
    public const string CollectionName = "meta";
    public const string Id = "outbox";
    public const string FormatName = "StoreForward.Outbox";
    public const int CurrentVersion = 3;
    public const int DocumentPerMessageVersion = 2;
    public const int RowPerPubRecVersion = 1;
    public const string ReleasedKey = "released";
    public const string RemovedKey = "removed";

    /// <summary>The ClientId of the publisher whose outbox the header is: in a shared file, how a publisher finds its own.</summary>
    public const string ClientKey = "client";

    private MetaDocument(int version, string? clientId, StoreCounters counters, SequenceSet removed, SequenceSet? released, Dictionary<long, int> attempts, KeyBinding? key)
    {
        Version = version;
        ClientId = clientId;
        Counters = counters;
        Removed = removed;
        Released = released;
        Attempts = attempts;
        Key = key;
    }

    public int Version { get; }

    /// <summary>The ClientId that claimed the store; null for a store no publisher claimed yet (or from before sharing).</summary>
    public string? ClientId { get; }

    /// <summary>The counters, without the head of the queue (which is not stored).</summary>
    public StoreCounters Counters { get; }

    /// <summary>Sequences removed from segments that still hold other live messages.</summary>
    public SequenceSet Removed { get; }

    /// <summary>QoS 2 messages whose PUBREC was committed; null for a version 1 store, which kept them as rows.</summary>
    public SequenceSet? Released { get; }

    /// <summary>On how many connections after the first each resent message was resent.</summary>
    public Dictionary<long, int> Attempts { get; }

    /// <summary>The key binding of an encrypted store, or null.</summary>
    public KeyBinding? Key { get; }

    /// <summary>
    /// Reads a header. Throws an <see cref="OutboxStoreException"/> naming <paramref name="storePath"/> when the document
    /// is not an outbox's header (<see cref="OutboxStoreProblem.Foreign"/>) or of a version this StoreForward does not read
    /// (<see cref="OutboxStoreProblem.UnsupportedVersion"/>); a field that cannot be read throws LiteDB's or a cast's error.
    /// </summary>
    public static MetaDocument Read(BsonDocument meta, string storePath)
    {
        if (!meta.TryGetValue("format", out var format) || format != FormatName)
            throw new OutboxStoreException(storePath, $"the file is not a StoreForward outbox (format '{format}').") { Problem = OutboxStoreProblem.Foreign };
        var version = meta["version"].AsInt32;
        if (version is not (CurrentVersion or DocumentPerMessageVersion or RowPerPubRecVersion))
        {
            throw new OutboxStoreException(storePath, $"the outbox format version {version} is not supported by this StoreForward (it reads version {CurrentVersion}).")
            {
                Problem = OutboxStoreProblem.UnsupportedVersion,
            };
        }

        var counters = new StoreCounters
        {
            NextSequence = meta["next"].AsInt64,
            SentThrough = meta["sent"].AsInt64,
            Count = meta["count"].AsInt64,
            Bytes = meta["bytes"].AsInt64,
            DeadLetters = meta["dead"].AsInt64,
            Dropped = meta.TryGetValue("dropped", out var dropped) ? dropped.AsInt64 : 0,
            Expired = meta.TryGetValue("expired", out var expired) ? expired.AsInt64 : 0,
            Superseded = meta.TryGetValue("superseded", out var superseded) ? superseded.AsInt64 : 0,
            SessionServer = !meta["session"].AsBoolean ? null : meta.TryGetValue("server", out var server) && server.IsString ? server.AsString : "",
        };
        var attempts = meta.TryGetValue("attempts", out var stored)
            ? stored.AsDocument.ToDictionary(a => long.Parse(a.Key, CultureInfo.InvariantCulture), a => a.Value.AsInt32)
            : [];
        KeyBinding? key = meta.TryGetValue("kid", out var kid)
            ? new KeyBinding(meta.TryGetValue("sid", out var salt) ? salt.AsBinary : throw new InvalidCastException("the key id has no store salt beside it"), kid.AsString)
            : null;
        return new MetaDocument(
            version,
            meta.TryGetValue(ClientKey, out var client) ? client.AsString : null,
            counters,
            SequenceSet.ReadFrom(meta, RemovedKey),
            version == RowPerPubRecVersion ? null : SequenceSet.ReadFrom(meta, ReleasedKey),
            attempts,
            key);
    }

    /// <summary>The header to write: always the current version.</summary>
    public static BsonDocument Write(Tenant tenant, string? clientId, in StoreCounters counters, SequenceSet released, SequenceSet removed, IReadOnlyDictionary<long, int> attempts, KeyBinding? key)
    {
        var meta = new BsonDocument
        {
            ["_id"] = tenant.HeaderId,
            ["format"] = FormatName,
            ["version"] = CurrentVersion,
            ["next"] = counters.NextSequence,
            ["sent"] = counters.SentThrough,
            ["count"] = counters.Count,
            ["bytes"] = counters.Bytes,
            ["dead"] = counters.DeadLetters,
            ["dropped"] = counters.Dropped,
            ["expired"] = counters.Expired,
            ["superseded"] = counters.Superseded,
            ["session"] = counters.SessionServer is not null,
        };
        if (clientId is not null)
            meta[ClientKey] = clientId;
        if (!string.IsNullOrEmpty(counters.SessionServer))
            meta["server"] = counters.SessionServer;
        if (key is var (salt, keyId))
        {
            meta["sid"] = salt;
            meta["kid"] = keyId;
        }

        released.WriteTo(meta);
        removed.WriteTo(meta);
        meta["attempts"] = new BsonDocument(attempts.ToDictionary(a => a.Key.ToString(CultureInfo.InvariantCulture), a => (BsonValue)a.Value));
        return meta;
    }

    /// <summary>
    /// The key binding of a header that may be damaged, when both its parts can still be read: all a salvage keeps of a
    /// header it cannot use, since the records sealed under the store's salt open with nothing else.
    /// </summary>
    public static KeyBinding? KeyBindingOf(BsonDocument? meta) =>
        meta is not null && meta.TryGetValue("kid", out var kid) && meta.TryGetValue("sid", out var sid)
            ? StoredField.Or<KeyBinding?>(() => new KeyBinding(StoredField.Binary(sid, "sid"), StoredField.String(kid, "kid")), null)
            : null;
}
