using System.Buffers;
using FsCheck;
using FsCheck.Fluent;
using MQTTnet;
using MQTTnet.Packets;
using MQTTnet.Protocol;
using StoreForward.Outbox;
using StoreForward.Tests.Outbox;

namespace StoreForward.Tests.Fuzzing;

/// <summary>
/// The public publish API against random messages: every message MQTT allows is stored and reads back unchanged, every
/// other one gets an <see cref="ArgumentException"/> that says what is wrong, and nothing else ever happens.
/// </summary>
[Trait("Category", "Unit")]
public sealed class PublishFuzzTests : StoreTest
{
    private const int MaxPayload = 4096;

    private sealed record Case(
        string Topic, byte[] Payload, int Qos, bool Retain, string? ContentType, string? ResponseTopic, byte[]? CorrelationData,
        (string Name, byte[] Value)[] UserProperties, uint Expiry, ushort TopicAlias)
    {
        public MqttApplicationMessage ToMessage() => new()
        {
            Topic = Topic,
            Payload = new ReadOnlySequence<byte>(Payload),
            QualityOfServiceLevel = (MqttQualityOfServiceLevel)Qos,
            Retain = Retain,
            ContentType = ContentType,
            ResponseTopic = ResponseTopic,
            CorrelationData = CorrelationData,
            UserProperties = UserProperties.Length == 0 ? null : [.. UserProperties.Select(p => new MqttUserProperty(p.Name, p.Value))],
            MessageExpiryInterval = Expiry,
            TopicAlias = TopicAlias,
        };

        public override string ToString() =>
            $"topic {Show(Topic)}, payload {Payload.Length} B, QoS {Qos}, content type {Show(ContentType)}, response topic {Show(ResponseTopic)}, " +
            $"correlation {CorrelationData?.Length.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "none"}, user properties [{string.Join("; ", UserProperties.Select(p => $"{Show(p.Name)}={p.Value.Length} B {(FuzzGen.IsMqttString(p.Value) ? "" : "not an MQTT string")}"))}], alias {TopicAlias}";

        private static string Show(string? text) =>
            text is null ? "none" : text.Length > 40 ? $"{text.Length} chars '{Escape(text[..20])}...'" : $"'{Escape(text)}'";

        private static string Escape(string text) => string.Concat(text.Select(c => char.IsControl(c) || char.IsSurrogate(c) ? $"\\u{(int)c:X4}" : c.ToString()));

        /// <summary>What MQTT 5 allows a client to store and send, written from the specification, not from the code.</summary>
        public bool IsValid =>
            FuzzGen.IsTopicName(Topic) && Qos is >= 0 and <= 2 && Payload.Length <= MaxPayload && TopicAlias == 0
            && (ContentType is null || FuzzGen.IsMqttString(ContentType))
            && (ResponseTopic is null || FuzzGen.IsTopicName(ResponseTopic))
            && (CorrelationData is null || CorrelationData.Length <= 65_535)
            && UserProperties.All(p => FuzzGen.IsMqttString(p.Name) && FuzzGen.IsMqttString(p.Value));
    }

    private static readonly Gen<(string, byte[])> UserProperty =
        from name in FuzzGen.Text
        from value in Gen.Frequency(
            (4, FuzzGen.Text.Select(System.Text.Encoding.UTF8.GetBytes)),
            (1, FuzzGen.Bytes(8, 65_536)))
        select (name, value);

    private static readonly Gen<Case> Cases =
        from topic in FuzzGen.Text
        from payload in FuzzGen.Bytes(64, MaxPayload)
        from qos in Gen.Choose(-1, 3)
        from retain in ArbMap.Default.GeneratorFor<bool>()
        from contentType in FuzzGen.OptionalText
        from responseTopic in FuzzGen.OptionalText
        from correlation in Gen.Frequency((2, Gen.Constant<byte[]?>(null)), (1, FuzzGen.Bytes(16, 65_536).Select(b => (byte[]?)b)))
        from properties in Gen.Choose(0, 3).SelectMany(n => Gen.ArrayOf(UserProperty, n))
        from expiry in Gen.Frequency((3, Gen.Constant(0u)), (1, ArbMap.Default.GeneratorFor<uint>()))
        from alias in Gen.Frequency((9, Gen.Constant((ushort)0)), (1, Gen.Choose(1, 10).Select(a => (ushort)a)))
        select new Case(topic, payload, qos, retain, contentType, responseTopic, correlation, properties, expiry, alias);

    [Fact]
    public async Task Every_random_message_is_either_stored_unchanged_or_refused_with_a_clear_argument_exception()
    {
        var options = TestOptions.Offline(StorePath);
        options.MaxPayloadBytes = MaxPayload;
        var stored = new List<Case>();
        await using (var publisher = await StoreForwardPublisher.StartAsync(options))
        {
            Prop.ForAll(Cases.ToArbitrary(), @case =>
            {
                var before = publisher.Status.PendingMessages;
                try
                {
                    publisher.PublishAsync(@case.ToMessage()).GetAwaiter().GetResult();
                }
                catch (ArgumentException e)
                {
                    return (!@case.IsValid && publisher.Status.PendingMessages == before && e.ParamName is "topic" or "qos" or "message" && e.Message.Length > 20)
                        .Label($"refused ({e.Message}) while valid: {@case.IsValid}");
                }

                stored.Add(@case);
                return (@case.IsValid && publisher.Status.PendingMessages == before + 1).Label($"stored while valid: {@case.IsValid}");
            }).Check(Config.QuickThrowOnFailure.WithMaxTest(500));
        }

        using var store = OutboxStore.Open(StorePath);
        var messages = store.ReadAll().ToList();
        Assert.Equal(stored.Count, messages.Count);
        foreach (var (@case, message) in stored.Zip(messages))
        {
            Assert.Equal((@case.Topic, (MqttQualityOfServiceLevel)@case.Qos, @case.Retain), (message.Topic, message.Qos, message.Retain));
            Assert.Equal(@case.Payload, message.Payload);
            Assert.Equal(@case.ContentType, message.Properties?.ContentType);
            Assert.Equal(@case.ResponseTopic, message.Properties?.ResponseTopic);
            Assert.Equal(@case.CorrelationData, message.Properties?.CorrelationData);
            Assert.Equal(@case.UserProperties.Select(p => (p.Name, Convert.ToHexString(p.Value))), message.Properties?.UserProperties.Select(p => (p.Name, Convert.ToHexString(p.ValueBuffer.Span))) ?? []);
        }
    }
}
