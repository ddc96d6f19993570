using System.Security.Cryptography;
using FsCheck;
using FsCheck.Fluent;
using LiteDB;
using MQTTnet.Protocol;
using StoreForward.Outbox;
using StoreForward.Tests.Outbox;

namespace StoreForward.Tests.Fuzzing;

/// <summary>
/// The store's record decoding against random and damaged documents, as a bad disk, a bug or an attacker could leave
/// them: decoding yields a message or an "unreadable" error, never anything else, and a store full of such records
/// still opens, verifies, reads and delivers what is sound.
/// </summary>
[Trait("Category", "Unit")]
public sealed class RecordFuzzTests : StoreTest
{
    private static readonly byte[] Key = RandomNumberGenerator.GetBytes(32);
    private static readonly string[] FieldNames = ["t", "p", "q", "r", "ts", "x", "z", "e", "ct", "pf", "rt", "cd", "up", "m", "n", "v"];

    private static readonly Gen<BsonValue> Scalar = Gen.OneOf(
        Gen.Constant(BsonValue.Null),
        ArbMap.Default.GeneratorFor<int>().Select(i => (BsonValue)i),
        ArbMap.Default.GeneratorFor<long>().Select(l => (BsonValue)l),
        Gen.Choose(-2, 4).Select(i => (BsonValue)i),
        ArbMap.Default.GeneratorFor<bool>().Select(b => (BsonValue)b),
        ArbMap.Default.GeneratorFor<NormalFloat>().Select(d => (BsonValue)d.Get),
        FuzzGen.Text.Select(s => (BsonValue)s),
        FuzzGen.Bytes(40, 200).Select(b => (BsonValue)b));

    private static Gen<BsonValue> Value(int depth) =>
        depth == 0
            ? Scalar
            : Gen.Frequency(
                (6, Scalar),
                (1, Document(depth - 1).Select(d => (BsonValue)d)),
                (1, Gen.Choose(0, 3).SelectMany(n => Gen.ArrayOf(Value(depth - 1), n)).Select(a => (BsonValue)new BsonArray(a))));

    private static Gen<BsonDocument> Document(int depth) =>
        from names in Gen.SubListOf(FieldNames)
        from values in Gen.ArrayOf(Value(depth), names.Count)
        select new BsonDocument(names.Zip(values).ToDictionary(p => p.First, p => p.Second));

    /// <summary>A sound segment member with some of its fields replaced or removed.</summary>
    private static Gen<BsonDocument> DamagedMember(bool sealedRecord) =>
        from replaced in Gen.SubListOf(FieldNames)
        from values in Gen.ArrayOf(Value(1), replaced.Count)
        from removed in Gen.SubListOf(FieldNames)
        select Damage(SoundMember(sealedRecord), replaced.Zip(values), removed);

    private static BsonDocument SoundMember(bool sealedRecord)
    {
        using var cipher = sealedRecord ? new RecordCipher(Key, new byte[RecordCipher.SaltSize]) : null;
        return OutboxSegment.Fields(1, "sf/data", "payload"u8, MqttQualityOfServiceLevel.AtLeastOnce, false, DateTimeOffset.UnixEpoch, null, null, cipher);
    }

    private static BsonDocument Damage(BsonDocument member, IEnumerable<(string Name, BsonValue Value)> replaced, IEnumerable<string> removed)
    {
        foreach (var (name, value) in replaced)
            member[name] = value;
        foreach (var name in removed)
            member.Remove(name);
        return member;
    }

    private static readonly Gen<BsonDocument> Segments = Gen.Frequency(
        (1, Document(2)),
        (3, from first in Gen.Frequency((4, Gen.Choose(1, 1000).Select(i => (BsonValue)(long)i)), (1, Value(0)))
            from sealedRecord in ArbMap.Default.GeneratorFor<bool>()
            from members in Gen.Choose(0, 3).SelectMany(n => Gen.ArrayOf(Gen.Frequency((3, DamagedMember(sealedRecord).Select(m => (BsonValue)m)), (1, Value(1))), n))
            from shape in Gen.Choose(0, 4)
            select shape == 0 ? new BsonDocument { ["_id"] = first, ["m"] = members.Length > 0 ? members[0] : BsonValue.Null }
                : new BsonDocument { ["_id"] = first, ["m"] = new BsonArray(members) }));

    [Fact]
    public void Decoding_any_document_gives_a_message_or_an_unreadable_error_and_nothing_else()
    {
        using var cipher = new RecordCipher(Key, new byte[RecordCipher.SaltSize]);
        Prop.ForAll(Segments.ToArbitrary(), segment =>
        {
            foreach (var useCipher in new[] { false, true })
            {
                for (var index = 0; index < 4; index++)
                {
                    try
                    {
                        var message = OutboxSegment.MessageAt(segment, index, useCipher ? cipher : null);
                        if (message.Topic is null || message.Payload is null || message.Size < 0)
                            return false.Label($"decoded a message without topic or payload from {segment}");
                    }
                    catch (Exception e) when (StoredField.IsUnreadable(e))
                    {
                    }
                    catch (Exception e)
                    {
                        return false.Label($"{e.GetType().Name}: {e.Message} decoding member {index} of {segment}");
                    }
                }

                foreach (var read in new Action[] { () => OutboxSegment.FirstOf(segment), () => OutboxSegment.LengthOf(segment), () => OutboxSegment.StoredAtTicks(segment) })
                {
                    try
                    {
                        read();
                    }
                    catch (Exception e) when (StoredField.IsUnreadable(e))
                    {
                    }
                    catch (Exception e)
                    {
                        return false.Label($"{e.GetType().Name}: {e.Message} reading {segment}");
                    }
                }
            }

            return true.ToProperty();
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(2000));
    }

    [Fact]
    public void A_store_with_damaged_records_still_opens_verifies_and_reads_the_sound_ones_and_sets_the_rest_aside()
    {
        Prop.ForAll(Gen.ListOf(DamagedMember(sealedRecord: true)).Select(l => l.ToArray()).ToArbitrary(), damaged =>
        {
            var path = Directory.File($"fuzz-{Guid.NewGuid():N}.db");
            using (var store = OutboxStore.Open(path, Key))
                AppendBatch(store, 4 + damaged.Length);

            // Sequences 1-4 stay sound; the members after them are replaced by the damaged ones, as a bad disk would.
            using (var db = new LiteDatabase(path))
            {
                var segments = db.GetCollection("outbox");
                var segment = segments.FindById(1L);
                var members = segment["m"].AsArray;
                for (var i = 0; i < damaged.Length; i++)
                    members[4 + i] = damaged[i];
                try
                {
                    segments.Update(segment);
                }
                catch (System.Text.EncoderFallbackException)
                {
                    // LiteDB cannot write a string with an unpaired surrogate, so no store can hold one.
                    return true.ToProperty();
                }
            }

            using var reopened = OutboxStore.Open(path, Key);
            _ = reopened.Verify();
            reopened.BeginBatch();
            var read = reopened.ReadAfter(0, 1000);
            reopened.CommitBatch();
            var setAside = reopened.TakeSetAside();
            return (read.Take(4).Select(m => m.Sequence).SequenceEqual([1L, 2, 3, 4])
                    && read.Count + setAside.Count == 4 + damaged.Length
                    && reopened.Snapshot.PendingMessages == read.Count
                    && setAside.All(d => d.Reason == DeadLetterReason.Unreadable))
                .Label($"read {read.Count}, set aside {setAside.Count}, pending {reopened.Snapshot.PendingMessages}, damaged {damaged.Length}");
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(100));
    }
}
