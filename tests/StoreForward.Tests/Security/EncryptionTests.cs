using System.Security.Cryptography;
using System.Text;
using LiteDB;
using MQTTnet.Packets;
using MQTTnet.Protocol;
using StoreForward.Outbox;
using StoreForward.Tests.Outbox;

namespace StoreForward.Tests.Security;

/// <summary>Encryption at rest at the store: what is sealed, what a wrong key or an altered record does, and what stays as it was.</summary>
[Trait("Category", "Unit")]
public sealed class EncryptionTests : StoreTest
{
    private static readonly byte[] Key = RandomNumberGenerator.GetBytes(32);
    private const string SecretTopic = "plant/secret-line/temperature";
    private const string SecretPayload = "SECRET-PAYLOAD-4711";
    private const string SecretProperty = "secret-user-property-value";

    private static readonly MessageProperties Properties =
        new("application/x-secret-type", MqttPayloadFormatIndicator.CharacterData, "reply/secret-topic", Encoding.UTF8.GetBytes("secret-correlation"), [new MqttUserProperty("origin", Encoding.UTF8.GetBytes(SecretProperty))]);

    private static readonly string[] Secrets = [SecretTopic, SecretPayload, SecretProperty, "application/x-secret-type", "reply/secret-topic", "secret-correlation"];

    /// <summary>A store with a plain, a coalesced and a dead-lettered message, each carrying the secrets.</summary>
    private void Fill(byte[]? key)
    {
        using var store = OutboxStore.Open(StorePath, key);
        store.BeginBatch();
        store.Append(SecretTopic, Encoding.UTF8.GetBytes(SecretPayload), MqttQualityOfServiceLevel.ExactlyOnce, true, DateTimeOffset.UnixEpoch, DateTimeOffset.UnixEpoch.AddDays(1), Properties);
        store.Append(SecretTopic, Encoding.UTF8.GetBytes(SecretPayload), MqttQualityOfServiceLevel.AtLeastOnce, false, DateTimeOffset.UnixEpoch, properties: Properties);
        store.Append(SecretTopic, Encoding.UTF8.GetBytes(SecretPayload), MqttQualityOfServiceLevel.AtLeastOnce, false, DateTimeOffset.UnixEpoch, coalesce: true);
        store.CommitBatch();
        store.BeginBatch();
        var first = store.ReadAfter(1, 1).Single();
        store.MoveToDeadLetters(first, first.ToDeadLetter(DeadLetterReason.RejectedByBroker, 0x87, "Not authorized"));
        store.CommitBatch();
    }

    private List<string> SecretsOnDisk()
    {
        var files = new[] { StorePath, OutboxStore.LogPathOf(StorePath) }.Where(File.Exists).Select(File.ReadAllBytes).ToList();
        return [.. Secrets.Where(secret => files.Any(bytes =>
            bytes.AsSpan().IndexOf(Encoding.UTF8.GetBytes(secret)) >= 0 || bytes.AsSpan().IndexOf(Encoding.Unicode.GetBytes(secret)) >= 0))];
    }

    [Fact]
    public void With_a_key_no_topic_payload_or_property_lies_in_the_files_in_clear()
    {
        Fill(Key);

        Assert.Empty(SecretsOnDisk());
    }

    [Fact]
    public void Without_a_key_they_do_which_is_what_the_check_above_would_see()
    {
        Fill(null);

        Assert.Equal(Secrets.Order(), SecretsOnDisk().Order());
    }

    [Fact]
    public void Sealed_messages_read_back_whole_with_the_key_and_coalescing_still_finds_its_topic()
    {
        Fill(Key);

        using var store = OutboxStore.Open(StorePath, Key);
        var messages = store.ReadAll().ToList();
        Assert.Equal([1L, 3L], messages.Select(m => m.Sequence));
        Assert.All(messages, m => Assert.Equal((SecretTopic, SecretPayload), (m.Topic, Encoding.UTF8.GetString(m.Payload))));
        Assert.Equal(Properties.ContentType, messages[0].Properties!.ContentType);
        Assert.Equal(SecretProperty, messages[0].Properties!.UserProperties[0].ReadValueAsString());
        Assert.Equal(DateTimeOffset.UnixEpoch.AddDays(1), messages[0].ExpiresAt);
        Assert.True(messages[0].Retain);
        var letter = store.ReadDeadLetters(0, 10).Single();
        Assert.Equal((2L, SecretTopic, DeadLetterReason.RejectedByBroker), (letter.Sequence, letter.Topic, letter.Reason));
        Assert.Equal(SecretPayload, Encoding.UTF8.GetString(letter.Payload.Span));

        store.BeginBatch();
        Assert.Equal(3, store.Supersedable(SecretTopic)!.Sequence);
        store.RollbackBatch();
        Assert.Empty(store.Verify());
    }

    [Fact]
    public void An_encrypted_store_refuses_to_open_without_its_key_or_with_another()
    {
        Fill(Key);
        var other = RandomNumberGenerator.GetBytes(32);

        var none = Assert.Throws<OutboxStoreException>(() => OutboxStore.Open(StorePath));
        var wrong = Assert.Throws<OutboxStoreException>(() => OutboxStore.Open(StorePath, other));

        Assert.Equal(OutboxStoreProblem.KeyMismatch, none.Problem);
        Assert.Equal(OutboxStoreProblem.KeyMismatch, wrong.Problem);
        Assert.Contains(RecordCipher.KeyId(Key), wrong.Message, StringComparison.Ordinal);
        Assert.Contains(RecordCipher.KeyId(other), wrong.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(Convert.ToHexString(Key)[..16], wrong.Message, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void A_plain_store_given_a_key_reads_its_old_messages_seals_new_ones_and_keeps_the_key()
    {
        using (var plain = OutboxStore.Open(StorePath))
            AppendBatch(plain, 3);

        using (var keyed = OutboxStore.Open(StorePath, Key))
        {
            AppendBatch(keyed, 2);
            Assert.Equal(5, keyed.ReadAll().Count());
            Assert.Empty(keyed.Verify());
        }

        Assert.Equal(OutboxStoreProblem.KeyMismatch, Assert.Throws<OutboxStoreException>(() => OutboxStore.Open(StorePath)).Problem);
    }

    [Theory]
    [InlineData("payload byte")]
    [InlineData("clear QoS")]
    [InlineData("moved record")]
    public void An_altered_record_is_set_aside_as_tampered_and_never_read_as_a_message(string alteration)
    {
        using (var store = OutboxStore.Open(StorePath, Key))
            AppendBatch(store, 5, payloadBytes: 16);
        var pendingBytes = Alter(alteration);

        using var reopened = OutboxStore.Open(StorePath, Key);
        reopened.BeginBatch();
        var read = reopened.ReadAfter(0, 10);
        reopened.CommitBatch();

        var altered = alteration == "moved record" ? new long[] { 2, 3 } : [3];
        Assert.Equal(Enumerable.Range(1, 5).Select(i => (long)i).Except(altered), read.Select(m => m.Sequence));
        var setAside = reopened.TakeSetAside();
        Assert.Equal(altered, setAside.Select(d => d.Sequence));
        Assert.All(setAside, d => Assert.Equal((DeadLetterReason.Unreadable, ""), (d.Reason, d.Topic)));
        Assert.Equal(altered, reopened.ReadDeadLetters(0, 10).Where(d => d.Reason == DeadLetterReason.Unreadable).Select(d => d.Sequence));
        Assert.Equal(5 - altered.Length, reopened.Snapshot.PendingMessages);
        Assert.Equal(pendingBytes - (altered.Length * 17), reopened.Snapshot.PendingBytes);

        // Set aside for good: it cannot be requeued, and the store's counters still agree with what it holds.
        reopened.BeginBatch();
        var (requeued, _, _) = reopened.RequeueDeadLetters(null, OutboxLimits.Unbounded);
        reopened.CommitBatch();
        Assert.Empty(requeued!);
        Assert.All(reopened.Verify(), p => Assert.Contains("failed its integrity check", p, StringComparison.Ordinal));
    }

    /// <summary>Changes the store's file behind its back, as an attacker with the disk could; returns the pending bytes before.</summary>
    private long Alter(string alteration)
    {
        long pendingBytes;
        using (var store = OutboxStore.Open(StorePath, Key))
            pendingBytes = store.Snapshot.PendingBytes;
        using var db = new LiteDatabase(StorePath);
        var segments = db.GetCollection("outbox");
        var segment = segments.FindAll().Single();
        var members = segment["m"].AsArray;
        switch (alteration)
        {
            case "payload byte":
                var record = members[2]["e"].AsBinary;
                record[^1] ^= 0x01;
                members[2]["e"] = record;
                break;
            case "clear QoS":
                members[2]["q"] = 0;
                break;
            default:
                (members[1]["e"], members[2]["e"]) = (members[2]["e"], members[1]["e"]);
                break;
        }

        segments.Update(segment);
        return pendingBytes;
    }

    [Fact]
    public void A_sealed_commit_costs_the_same_fsyncs_as_a_plain_one()
    {
        long Syncs(byte[]? key, string name)
        {
            using var store = OutboxStore.Open(Directory.File(name), key);
            var before = store.SyncCount;
            AppendBatch(store, 100);
            return store.SyncCount - before;
        }

        Assert.Equal(Syncs(null, "plain.db"), Syncs(Key, "sealed.db"));
    }
}
