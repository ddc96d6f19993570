using System.Buffers.Binary;
using System.Security.Cryptography;

namespace StoreForward.Outbox;

/// <summary>
/// Encryption at rest of what a stored message says (topic, payload, MQTT 5 properties) with AES-256-GCM, an
/// authenticated cipher: a record altered on disk, or moved to another place in the store, fails to decrypt instead of
/// being published.
/// </summary>
/// <remarks>
/// Invariants:
/// <list type="bullet">
/// <item>The app's key never encrypts anything itself. Each store has a random salt in its meta document, and the record
/// key and the topic-index key are derived from the app's key and that salt (HKDF-SHA256). Stores that share an app key
/// therefore never share a record key, so the nonces of one store cannot collide with another's.</item>
/// <item>A nonce is 4 random bytes, drawn once per opening of the store, followed by the record's sequence. Within a store
/// the sequence never repeats, so nonces never repeat. The random part covers a store restored from a backup, whose
/// sequences then run a second time in another opening: two messages then share a nonce only if 32 random bits match
/// too. (Drawing them per message cost 2 µs each, more than the encryption.) A dead letter is sealed again under its
/// message's sequence, but with the same content and associated data, so it repeats the very same record.</item>
/// <item>The associated data binds the ciphertext to the record's sequence, QoS, retain flag, times and size, which stay
/// in clear because expiry, the oldest-age figure and tampering reports need them without the key.</item>
/// </list>
/// Record layout: version (1 byte) | nonce (12) | tag (16) | ciphertext of the BSON document of the secret fields.
/// </remarks>
internal sealed class RecordCipher : IDisposable
{
    public const int KeySize = 32;
    public const int SaltSize = 16;
    private const byte Version = 1;
    private const int NonceSize = 12;
    private const int TagSize = 16;
    private const int Header = 1 + NonceSize + TagSize;

    private readonly AesGcm _aes;
    private readonly byte[] _topicKey;
    private readonly byte[] _noncePrefix = RandomNumberGenerator.GetBytes(4);

    public RecordCipher(ReadOnlySpan<byte> appKey, ReadOnlySpan<byte> storeSalt)
    {
        Span<byte> recordKey = stackalloc byte[KeySize];
        HKDF.DeriveKey(HashAlgorithmName.SHA256, appKey, recordKey, storeSalt, "StoreForward outbox record key v1"u8);
        _aes = new AesGcm(recordKey, TagSize);
        CryptographicOperations.ZeroMemory(recordKey);
        _topicKey = new byte[KeySize];
        HKDF.DeriveKey(HashAlgorithmName.SHA256, appKey, _topicKey, storeSalt, "StoreForward outbox topic index key v1"u8);
    }

    /// <summary>
    /// Names a key without revealing it: the store records the id of the key it was encrypted with, so that opening it
    /// with another key fails at once, saying so, instead of every message failing its check later.
    /// </summary>
    public static string KeyId(ReadOnlySpan<byte> appKey) =>
        Convert.ToHexStringLower(HMACSHA256.HashData(appKey, "StoreForward key id v1"u8)[..8]);

    /// <summary>A new store's salt.</summary>
    public static byte[] NewSalt() => RandomNumberGenerator.GetBytes(SaltSize);

    public byte[] Seal(long sequence, ReadOnlySpan<byte> associatedData, ReadOnlySpan<byte> plaintext)
    {
        var record = new byte[Header + plaintext.Length];
        record[0] = Version;
        var nonce = record.AsSpan(1, NonceSize);
        _noncePrefix.CopyTo(nonce);
        BinaryPrimitives.WriteInt64BigEndian(nonce[4..], sequence);
        _aes.Encrypt(nonce, plaintext, record.AsSpan(Header), record.AsSpan(1 + NonceSize, TagSize), associatedData);
        return record;
    }

    /// <summary>Decrypts a record; throws <see cref="CryptographicException"/> when it was altered or belongs elsewhere.</summary>
    public byte[] Open(ReadOnlySpan<byte> record, ReadOnlySpan<byte> associatedData)
    {
        if (record.Length < Header || record[0] != Version)
            throw new CryptographicException($"The record is not an encrypted outbox record of version {Version} ({record.Length} bytes).");
        var plaintext = new byte[record.Length - Header];
        _aes.Decrypt(record.Slice(1, NonceSize), record[Header..], record.Slice(1 + NonceSize, TagSize), plaintext, associatedData);
        return plaintext;
    }

    /// <summary>
    /// What the store keys a coalesced topic by instead of the topic itself, which would lie in the file in clear: a keyed
    /// hash, the same for the same topic in this store and useless to anyone without the key.
    /// </summary>
    public string TopicIndex(string topic) =>
        Convert.ToBase64String(HMACSHA256.HashData(_topicKey, System.Text.Encoding.UTF8.GetBytes(topic)));

    public void Dispose()
    {
        _aes.Dispose();
        CryptographicOperations.ZeroMemory(_topicKey);
    }
}
