using MQTTnet.Protocol;

namespace StoreForward.Tests.Publishing;

[Trait("Category", "Unit")]
public sealed class PublishValidationTests : IAsyncLifetime
{
    private readonly TestDirectory _dir = new();
    private StoreForwardPublisher _publisher = null!;

    public async Task InitializeAsync() =>
        _publisher = await StoreForwardPublisher.StartAsync(TestOptions.Offline(_dir.File("outbox.db")));

    public async Task DisposeAsync()
    {
        await _publisher.DisposeAsync();
        _dir.Dispose();
    }

    public static TheoryData<string, string> BadTopics => new()
    {
        { "", "must not be empty" },
        { "plant/+/temperature", "wildcard '+'" },
        { "plant/#", "wildcard '#'" },
        { "plant/\0/x", "U+0000" },
        { new string('a', 65_536), "65536 UTF-8 bytes" },
        { new string('é', 32_768), "65536 UTF-8 bytes" },
    };

    [Theory]
    [MemberData(nameof(BadTopics))]
    public async Task Bad_topic_is_refused_with_its_problem_named_and_nothing_is_stored(string topic, string problem)
    {
        var error = await Assert.ThrowsAsync<ArgumentException>(() => _publisher.PublishAsync(topic, new byte[] { 1 }));

        Assert.Equal("topic", error.ParamName);
        Assert.Contains(problem, error.Message, StringComparison.Ordinal);
        Assert.Equal(0, _publisher.Status.PendingMessages);
    }

    [Fact]
    public async Task Topic_with_an_unpaired_surrogate_is_refused_as_invalid_utf8()
    {
        // Not theory data: xunit would turn the lone surrogate into U+FFFD on the way to the test.
        var error = await Assert.ThrowsAsync<ArgumentException>(() => _publisher.PublishAsync("plant/\uD800", new byte[] { 1 }));

        Assert.Contains("unpaired surrogate at position 6", error.Message, StringComparison.Ordinal);
        Assert.Equal(0, _publisher.Status.PendingMessages);
    }

    [Fact]
    public async Task Null_topic_is_refused() =>
        await Assert.ThrowsAsync<ArgumentNullException>(() => _publisher.PublishAsync(null!, ReadOnlyMemory<byte>.Empty));

    [Theory]
    [InlineData(-1)]
    [InlineData(3)]
    public async Task Qos_outside_0_to_2_is_refused(int qos)
    {
        var error = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => _publisher.PublishAsync("plant/t", new byte[1], (MqttQualityOfServiceLevel)qos));

        Assert.Equal("qos", error.ParamName);
        Assert.Equal(0, _publisher.Status.PendingMessages);
    }

    [Fact]
    public async Task Oversized_payload_is_refused_with_both_sizes_named()
    {
        var error = await Assert.ThrowsAsync<ArgumentException>(() => _publisher.PublishAsync("plant/t", new byte[1024 * 1024 + 1]));

        Assert.Equal("payload", error.ParamName);
        Assert.Contains("1048577 bytes", error.Message, StringComparison.Ordinal);
        Assert.Contains("MaxPayloadBytes (1048576)", error.Message, StringComparison.Ordinal);
        Assert.Equal(0, _publisher.Status.PendingMessages);
    }

    [Fact]
    public async Task Longest_valid_topic_and_empty_payload_are_accepted()
    {
        await _publisher.PublishAsync(new string('a', 65_535), ReadOnlyMemory<byte>.Empty, retain: true);
        await _publisher.PublishAsync("plant/😀/ok", ReadOnlyMemory<byte>.Empty, MqttQualityOfServiceLevel.AtMostOnce);

        Assert.Equal(2, _publisher.Status.PendingMessages);
    }

    [Fact]
    public async Task Cancelled_token_stores_nothing()
    {
        using var cts = new CancellationTokenSource();
        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => _publisher.PublishAsync("plant/t", new byte[1], cancellationToken: cts.Token));
        Assert.Equal(0, _publisher.Status.PendingMessages);
    }

    [Fact]
    public async Task A_message_larger_than_the_whole_byte_limit_is_refused_at_the_call_whatever_the_overflow_policy()
    {
        var options = TestOptions.Offline(_dir.File("bounded.db"));
        options.MaxPendingBytes = 100;
        options.OverflowPolicy = OverflowPolicy.Wait;
        await using var bounded = await StoreForwardPublisher.StartAsync(options);

        var error = await Assert.ThrowsAsync<ArgumentException>(() => bounded.PublishAsync("plant/x", new byte[94]));

        Assert.Contains("101 bytes of topic and payload, more than StoreForwardOptions.MaxPendingBytes (100)", error.Message, StringComparison.Ordinal);
        Assert.Equal(0, bounded.Status.PendingMessages);
        await bounded.PublishAsync("plant/x", new byte[93]);
    }

    public static TheoryData<string, Func<MQTTnet.MqttApplicationMessage>> BadMessages => new()
    {
        { "topic alias 3", () => new() { Topic = "plant/x", TopicAlias = 3 } },
        { "subscription identifiers", () => new() { Topic = "plant/x", SubscriptionIdentifiers = [7] } },
        { "The response topic is not valid: The topic 'reply/#' contains the wildcard '#'", () => new() { Topic = "plant/x", ResponseTopic = "reply/#" } },
        { "wildcard '+'", () => new() { Topic = "plant/+" } },
        { "payload format indicator", () => new() { Topic = "plant/x", PayloadFormatIndicator = (MqttPayloadFormatIndicator)5 } },
    };

    [Theory]
    [MemberData(nameof(BadMessages))]
    public async Task An_application_message_that_cannot_be_stored_is_refused_naming_the_problem(string problem, Func<MQTTnet.MqttApplicationMessage> message)
    {
        var error = await Assert.ThrowsAsync<ArgumentException>(() => _publisher.PublishAsync(message()));

        Assert.Contains(problem, error.Message, StringComparison.Ordinal);
        Assert.Equal(0, _publisher.Status.PendingMessages);
    }
}
