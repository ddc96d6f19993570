using MQTTnet.Formatter;

namespace StoreForward.Tests.Publishing;

public sealed class OptionsValidationTests
{
    private static StoreForwardOptions Valid() => new() { ClientId = "c", StorePath = Path.Combine(Path.GetTempPath(), "never-created.db") };

    public static TheoryData<string, Action<StoreForwardOptions>> BadOptions => new()
    {
        { "ClientId", o => o.ClientId = "" },
        { "ClientId", o => o.ClientId = "   " },
        { "Host", o => o.Host = "" },
        { "Port", o => o.Port = 0 },
        { "Port", o => o.Port = 70_000 },
        { "StorePath", o => o.StorePath = " " },
        { "ProtocolVersion", o => o.ProtocolVersion = MqttProtocolVersion.V310 },
        { "SessionExpiry", o => o.SessionExpiry = TimeSpan.Zero },
        { "KeepAlive", o => o.KeepAlive = TimeSpan.FromMilliseconds(10) },
        { "MaxInFlight", o => o.MaxInFlight = 0 },
        { "AckTimeout", o => o.AckTimeout = TimeSpan.Zero },
        { "ConnectTimeout", o => o.ConnectTimeout = TimeSpan.FromSeconds(-1) },
        { "MaxPayloadBytes", o => o.MaxPayloadBytes = StoreForwardOptions.MaxStorablePayloadBytes + 1 },
        { "MaxPendingMessages", o => o.MaxPendingMessages = 0 },
        { "MaxPendingBytes", o => o.MaxPendingBytes = -1 },
        { "OverflowPolicy", o => o.OverflowPolicy = (OverflowPolicy)7 },
        { "Qos0WhenOffline", o => o.Qos0WhenOffline = (Qos0WhenOffline)2 },
        { "DefaultMessageExpiry", o => o.DefaultMessageExpiry = TimeSpan.FromMilliseconds(500) },
        { "MaxDeliveryAttempts", o => o.MaxDeliveryAttempts = 0 },
        { "CoalescedTopics", o => o.CoalescedTopics = ["plant/#/temperature"] },
        { "ReconnectInitialDelay", o => o.ReconnectInitialDelay = TimeSpan.Zero },
        { "ReconnectMaxDelay", o => o.ReconnectMaxDelay = TimeSpan.FromMilliseconds(1) },
    };

    [Theory]
    [MemberData(nameof(BadOptions))]
    public async Task StartAsync_names_the_bad_option_and_creates_no_store(string name, Action<StoreForwardOptions> spoil)
    {
        var options = Valid();
        spoil(options);

        var error = await Assert.ThrowsAsync<ArgumentException>(() => StoreForwardPublisher.StartAsync(options));

        Assert.Equal(name, error.ParamName);
        Assert.Contains("StoreForwardOptions." + name, error.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(options.StorePath));
    }

    [Fact]
    public void Session_expiry_zero_is_fine_on_mqtt_311_where_clean_session_false_keeps_the_session()
    {
        var options = Valid();
        options.ProtocolVersion = MqttProtocolVersion.V311;
        options.SessionExpiry = TimeSpan.Zero;

        options.Validate();
    }
}
