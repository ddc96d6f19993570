using Microsoft.Extensions.Configuration;
using MQTTnet.Formatter;

namespace StoreForward.Tests.Publishing;

[Trait("Category", "Unit")]
public sealed class OptionsValidationTests
{
    private static StoreForwardOptions Valid() => new() { ClientId = "c", StorePath = Path.Combine(Path.GetTempPath(), "never-created.db") };

    public static TheoryData<string, Action<StoreForwardOptions>> BadOptions => new()
    {
        { "ClientId", o => o.ClientId = "" },
        { "ClientId", o => o.ClientId = "   " },
        { "ClientId", o => o.ClientId = "gateway\0" },
        // An unpaired surrogate has no UTF-8 form: CONNECT would carry U+FFFD instead, another client's id.
        { "ClientId", o => o.ClientId = "gateway-\uD800" },
        { "ClientId", o => o.ClientId = new string('x', 65_536) },
        { "Username", o => o.Username = "operator\0" },
        { "Username", o => o.Username = "\uDC00operator" },
        { "Password", o => (o.Username, o.Password) = ("u", new string('é', 32_768)) },
        { "Password", o => (o.Username, o.Password, o.ProtocolVersion) = (null, "p", MqttProtocolVersion.V311) },
        { "CredentialsProvider", o => (o.Password, o.CredentialsProvider) = ("p", new Security.TestCredentialsProvider((_, _) => new MqttCredentials("u", "p"))) },
        { "Host", o => o.Host = "" },
        { "Port", o => o.Port = 0 },
        { "Port", o => o.Port = 70_000 },
        { "StorePath", o => o.StorePath = " " },
        { "ProtocolVersion", o => o.ProtocolVersion = MqttProtocolVersion.V310 },
        { "SessionExpiry", o => o.SessionExpiry = TimeSpan.Zero },
        { "KeepAlive", o => o.KeepAlive = TimeSpan.FromMilliseconds(10) },
        { "MaxInFlight", o => o.MaxInFlight = 0 },
        { "AckTimeout", o => o.AckTimeout = TimeSpan.Zero },
        { "CommitInterval", o => o.CommitInterval = TimeSpan.FromMilliseconds(-1) },
        { "CommitInterval", o => o.CommitInterval = TimeSpan.FromSeconds(1.5) },
        { "ConnectTimeout", o => o.ConnectTimeout = TimeSpan.FromSeconds(-1) },
        { "MaxPayloadBytes", o => o.MaxPayloadBytes = StoreForwardOptions.MaxStorablePayloadBytes + 1 },
        { "MaxPendingMessages", o => o.MaxPendingMessages = 0 },
        { "MaxPendingBytes", o => o.MaxPendingBytes = -1 },
        { "OverflowPolicy", o => o.OverflowPolicy = (OverflowPolicy)7 },
        { "Qos0WhenOffline", o => o.Qos0WhenOffline = (Qos0WhenOffline)2 },
        { "DefaultMessageExpiry", o => o.DefaultMessageExpiry = TimeSpan.FromMilliseconds(500) },
        { "MaxDeliveryAttempts", o => o.MaxDeliveryAttempts = 0 },
        { "MaxPublishRate", o => o.MaxPublishRate = 0 },
        { "Presence.Topic", o => o.Presence = new PresenceOptions { Topic = "plant/+/state" } },
        { "Presence.Topic", o => o.Presence = new PresenceOptions { Topic = "plant/\0/state" } },
        { "Presence.Topic", o => o.Presence = new PresenceOptions { Topic = "" } },
        { "Presence.OfflinePayload", o => o.Presence = new PresenceOptions { Topic = "t", OfflinePayload = new string('x', 65_536) } },
        { "Presence.Qos", o => o.Presence = new PresenceOptions { Topic = "t", Qos = MQTTnet.Protocol.MqttQualityOfServiceLevel.ExactlyOnce } },
        { "Presence.WillDelay", o => (o.Presence, o.ProtocolVersion) = (new PresenceOptions { Topic = "t", WillDelay = TimeSpan.FromSeconds(5) }, MqttProtocolVersion.V311) },
        { "Presence.WillDelay", o => o.Presence = new PresenceOptions { Topic = "t", WillDelay = TimeSpan.FromSeconds(-1) } },
        { "MaxPublishByteRate", o => o.MaxPublishByteRate = -1 },
        { "CoalescedTopics", o => o.CoalescedTopics = ["plant/#/temperature"] },
        { "ReconnectInitialDelay", o => o.ReconnectInitialDelay = TimeSpan.Zero },
        { "ReconnectMaxDelay", o => o.ReconnectMaxDelay = TimeSpan.FromMilliseconds(1) },
        { "Servers", o => (o.Servers, o.Host) = (["a:1883"], "b") },
        { "Servers", o => (o.Servers, o.Port) = (["a:1883"], 1883) },
        { "Servers", o => o.Servers = ["a:1883", "b"] },
        { "Servers", o => o.Servers = ["a:1883", "mqtts://A:1883"] },
        { "FailbackInterval", o => o.FailbackInterval = TimeSpan.Zero },
        { "BrokerMaximumQos", o => o.BrokerMaximumQos = (MQTTnet.Protocol.MqttQualityOfServiceLevel)3 },
        { "QosAboveMaximum", o => o.QosAboveMaximum = (QosAboveMaximum)2 },
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

        OptionsValidation.Validate(options);
    }

    [Theory]
    [InlineData("broker.plant:1883", "broker.plant", 1883, false)]
    [InlineData("mqtt://broker.plant:1884", "broker.plant", 1884, false)]
    [InlineData("mqtts://broker.plant:8883", "broker.plant", 8883, true)]
    [InlineData("MQTTS://10.0.0.7:8883/", "10.0.0.7", 8883, true)]
    [InlineData("[::1]:1883", "::1", 1883, false)]
    [InlineData("mqtts://[fe80::1]:8883", "fe80::1", 8883, true)]
    [InlineData("ws://broker.plant:80/mqtt", "broker.plant", 80, false, "/mqtt")]
    [InlineData("WSS://broker.plant:443", "broker.plant", 443, true, "/")]
    [InlineData("wss://[::1]:8443/a/b/", "::1", 8443, true, "/a/b/")]
    public void A_server_entry_names_host_port_whether_it_uses_TLS_and_a_websockets_path(string entry, string host, int port, bool tls, string? path = null)
    {
        var endpoint = StoreForward.Transport.BrokerEndpoint.TryParse(entry, tlsByDefault: false, out var problem);

        Assert.Null(problem);
        Assert.Equal(new StoreForward.Transport.BrokerEndpoint(host, port, tls, path), endpoint);
    }

    [Theory]
    [InlineData("ws://broker:80/mqtt", "ws://broker:80/mqtt")]
    [InlineData("wss://broker:443", "wss://broker:443/")]
    [InlineData("mqtts://broker:8883/", "mqtts://broker:8883")]
    public void A_server_is_named_with_its_scheme_and_a_websockets_path(string entry, string name)
    {
        Assert.Equal(name, StoreForward.Transport.BrokerEndpoint.TryParse(entry, tlsByDefault: false, out _)!.ToString());
    }

    [Fact]
    public void An_entry_without_a_scheme_uses_TLS_as_Tls_Enabled_says_and_a_scheme_overrides_it()
    {
        var options = Valid();
        options.Tls.Enabled = true;
        options.Servers = ["primary:8883", "mqtt://standby:1883"];

        Assert.Equal(
            ["mqtts://primary:8883", "mqtt://standby:1883"],
            OptionsValidation.Endpoints(options).Select(e => e.ToString()));
    }

    [Fact]
    public void Without_servers_the_endpoint_is_Host_and_Port_or_their_defaults()
    {
        var options = Valid();
        Assert.Equal("mqtt://localhost:1883", Assert.Single(OptionsValidation.Endpoints(options)).ToString());

        options.Host = "broker";
        options.Port = 1884;
        Assert.Equal("mqtt://broker:1884", Assert.Single(OptionsValidation.Endpoints(options)).ToString());
    }

    [Theory]
    [InlineData("broker", "has no port")]
    [InlineData("mqtt://broker", "has no port")]
    [InlineData("broker:0", "not between 1 and 65535")]
    [InlineData("broker:65536", "not between 1 and 65535")]
    [InlineData("broker:http", "not between 1 and 65535")]
    [InlineData("http://broker:80", "unknown scheme 'http'")]
    [InlineData("ws://:80/mqtt", "empty host")]
    [InlineData("ws:///mqtt", "has no port")]
    [InlineData("ws://broker/mqtt", "has no port")]
    [InlineData("wss://broker:443/mqtt?x=1", "query")]
    [InlineData("ws://user@broker:80/mqtt", "no user")]
    [InlineData(":1883", "empty host")]
    [InlineData("mqtt://:1883", "empty host")]
    [InlineData("  ", "is empty")]
    [InlineData("::1:1883", "IPv6 address without brackets")]
    [InlineData("mqtt://user@broker:1883", "nothing else")]
    public async Task StartAsync_refuses_a_malformed_server_entry_naming_it(string entry, string problem)
    {
        var options = Valid();
        options.Servers = ["good:1883", entry];

        var error = await Assert.ThrowsAsync<ArgumentException>(() => StoreForwardPublisher.StartAsync(options));

        Assert.Equal("Servers", error.ParamName);
        Assert.Contains($"StoreForwardOptions.Servers[1] '{entry}'", error.Message, StringComparison.Ordinal);
        Assert.Contains(problem, error.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(options.StorePath));
    }

    [Fact]
    public async Task Servers_together_with_Host_and_Port_are_refused_naming_both()
    {
        var options = Valid();
        options.Servers = ["a:1883"];
        options.Host = "b";
        options.Port = 1884;

        var error = await Assert.ThrowsAsync<ArgumentException>(() => StoreForwardPublisher.StartAsync(options));

        Assert.Contains("StoreForwardOptions.Servers and StoreForwardOptions.Host/Port are both set (Host 'b' Port 1884)", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TLS_settings_are_accepted_without_Tls_Enabled_when_an_mqtts_server_uses_them_and_refused_when_none_does()
    {
        var options = Valid();
        options.Tls.TargetHost = "broker.plant";
        options.Servers = ["mqtt://a:1883"];
        Assert.Contains("Tls.Enabled", Assert.Throws<ArgumentException>(() => OptionsValidation.Validate(options)).Message, StringComparison.Ordinal);

        options.Servers = ["mqtt://a:1883", "mqtts://b:8883"];
        OptionsValidation.Validate(options);
    }

    [Fact]
    public void Tls_Enabled_with_only_plain_servers_is_refused_since_nothing_would_use_TLS()
    {
        var options = Valid();
        options.Tls.Enabled = true;
        options.Servers = ["mqtt://a:1883", "mqtt://b:1883"];

        var error = Assert.Throws<ArgumentException>(() => OptionsValidation.Validate(options));

        Assert.Contains("StoreForwardOptions.Tls.Enabled is true, but every entry of Servers is mqtt:// or ws://", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(1, 2)]
    [InlineData(60, 120)]
    [InlineData(2400, 3600)]
    [InlineData(3600, 3600)]
    [InlineData(7200, 7200)]
    public void A_failback_that_did_not_hold_doubles_the_probe_interval_up_to_an_hour(int seconds, int nextSeconds) =>
        Assert.Equal(TimeSpan.FromSeconds(nextSeconds), StoreForward.Reconnect.FailbackRetreat.Next(TimeSpan.FromSeconds(seconds)));

    [Fact]
    public void Options_bind_from_a_configuration_section_without_a_host_as_the_configuration_guide_shows()
    {
        var configuration = new Microsoft.Extensions.Configuration.ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["StoreForward:ClientId"] = "plant-7-gateway",
                ["StoreForward:Servers:0"] = "mqtts://a:8883",
                ["StoreForward:KeepAlive"] = "00:00:30",
                ["StoreForward:AllowWorldWritableStoreDirectory"] = "true",
            })
            .Build();

        // The guide's form: Get<T> creates the options (ClientId is required, so `new StoreForwardOptions()` does not compile).
        var options = configuration.GetSection("StoreForward").Get<StoreForwardOptions>()
            ?? throw new InvalidOperationException("The StoreForward section is missing.");

        OptionsValidation.Validate(options);
        Assert.Equal("plant-7-gateway", options.ClientId);
        Assert.Equal(["mqtts://a:8883"], options.Servers);
        Assert.Equal(TimeSpan.FromSeconds(30), options.KeepAlive);
        Assert.True(options.AllowWorldWritableStoreDirectory);
    }
}
