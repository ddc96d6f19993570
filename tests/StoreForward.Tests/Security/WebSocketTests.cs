using System.Security.Cryptography.X509Certificates;
using MQTTnet.Protocol;
using StoreForward.Tests.Infrastructure;

namespace StoreForward.Tests.Security;

/// <summary>
/// MQTT over WebSockets against Mosquitto behind a loopback WebSocket bridge (Kestrel): delivery across a broker restart
/// over ws:// and wss://, the broker's certificate checked over wss:// with the same rules as over mqtts://, and wss://
/// through an HTTP proxy that wants credentials.
/// </summary>
public sealed class WebSocketTests : SecurityTest, IDisposable
{
    private readonly TestPki _pki = TestPki.Create();
    private readonly X509Certificate2 _brokerCertificate;

    public WebSocketTests()
        : base(new MosquittoSettings()) =>
        _brokerCertificate = X509Certificate2.CreateFromPemFile(_pki.BrokerCertificateFile, _pki.BrokerKeyFile);

    public void Dispose()
    {
        _brokerCertificate.Dispose();
        _pki.Dispose();
    }

    private StoreForwardOptions Over(string server, bool trusted = true)
    {
        var options = Options();
        (options.Host, options.Port) = (null, null);
        options.Servers = [server];
        if (server.StartsWith("wss", StringComparison.Ordinal) && trusted)
        {
            options.Tls.CaFile = _pki.CaFile;
            options.Tls.TargetHost = server.Contains(TestPki.BrokerName, StringComparison.Ordinal) ? null : TestPki.BrokerName;
        }

        return options;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Delivers_over_websockets_across_a_broker_restart(bool tls)
    {
        await using var bridge = await WebSocketBridge.StartAsync(Broker.Host, Broker.Port, tls ? _brokerCertificate : null);
        var publisher = await StartPublisherAsync(Over(bridge.Uri(tls)));
        var before = await PublishManyAsync(publisher, 0, Messages, MqttQualityOfServiceLevel.AtLeastOnce);
        await publisher.FlushAsync().WaitAsync(Patience);
        Assert.Equal(bridge.Uri(tls), publisher.Status.Server);

        await Broker.RestartAsync();
        await Subscriber.WaitUntilReceivingAsync();
        var after = await PublishManyAsync(publisher, Messages, Messages, MqttQualityOfServiceLevel.AtLeastOnce);
        await publisher.FlushAsync().WaitAsync(Patience);

        await AssertDeliveredAsync(0, [.. before, .. after], exactlyOnce: false);
        Assert.True(bridge.Accepted >= 2, $"{bridge.Accepted} WebSocket connections: the reconnect did not go through the bridge");
    }

    [Theory]
    [InlineData(false, "is not trusted")]
    [InlineData(true, "is not issued for '127.0.0.1'")]
    public async Task Over_wss_the_brokers_certificate_must_lead_to_the_ca_file_and_carry_the_name(bool caFile, string problem)
    {
        await using var bridge = await WebSocketBridge.StartAsync(Broker.Host, Broker.Port, _brokerCertificate);
        var wrong = Over(bridge.Uri(tls: true), trusted: false);
        if (caFile)
            wrong.Tls.CaFile = _pki.CaFile;

        var refusal = await RefusedAsync(wrong, MqttQualityOfServiceLevel.AtLeastOnce);

        Assert.Contains(problem, refusal.LastConnectionError, StringComparison.Ordinal);
        await AssertFixedDeliversAsync(Over(bridge.Uri(tls: true)));
    }

    [Fact]
    public async Task Wss_goes_through_an_http_proxy_that_wants_credentials_and_a_wrong_password_waits()
    {
        await using var bridge = await WebSocketBridge.StartAsync(Broker.Host, Broker.Port, _brokerCertificate);
        await using var proxy = HttpConnectProxy.Start("gateway", "Pr0xy-Pa55");

        // A name only the proxy resolves (to 127.0.0.1), as a proxy in a plant resolves the cloud broker's.
        var server = $"wss://{TestPki.BrokerName}:{bridge.Port}/mqtt";
        var wrong = Over(server);
        wrong.WebSocketProxy = new WebSocketProxyOptions { Address = proxy.Address, Username = "gateway", Password = "Wr0ng" };
        var refusal = await RefusedAsync(wrong, MqttQualityOfServiceLevel.AtLeastOnce);
        Assert.Contains($"CONNECT {TestPki.BrokerName}:{bridge.Port} HTTP/1.1 -> 407", proxy.Requests);
        Assert.DoesNotContain("Wr0ng", refusal.Everything, StringComparison.Ordinal);

        var right = Over(server);
        right.WebSocketProxy = new WebSocketProxyOptions { Address = proxy.Address, Username = "gateway", Password = "Pr0xy-Pa55" };
        await AssertFixedDeliversAsync(right);
        Assert.Contains($"CONNECT {TestPki.BrokerName}:{bridge.Port} HTTP/1.1 -> 200", proxy.Requests);
        Assert.True(bridge.Accepted >= 1);
    }
}
