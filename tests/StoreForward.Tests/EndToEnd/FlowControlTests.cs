using MQTTnet.Protocol;
using StoreForward.Tests.Infrastructure;

namespace StoreForward.Tests.EndToEnd;

/// <summary>The broker announces Receive Maximum 3: the window must fill up to it and never beyond.</summary>
public sealed class FlowControlTests() : BrokerTest(new MosquittoSettings { ReceiveMaximum = 3 })
{
    [Theory]
    [InlineData(MqttQualityOfServiceLevel.AtLeastOnce, 20, 3)]
    [InlineData(MqttQualityOfServiceLevel.ExactlyOnce, 20, 3)]
    [InlineData(MqttQualityOfServiceLevel.ExactlyOnce, 2, 2)]
    public async Task In_flight_publishes_never_exceed_the_smaller_of_receive_maximum_and_max_in_flight(MqttQualityOfServiceLevel qos, int maxInFlight, int expectedWindow)
    {
        await using var proxy = MqttTcpProxy.Start(Broker.Host, Broker.Port);
        var options = Options(proxy.Port);
        options.MaxInFlight = maxInFlight;
        await Broker.StopAsync();
        var publisher = await StartPublisherAsync(options);
        var receipts = await PublishManyAsync(publisher, 0, 300, qos);

        await Broker.StartAgainAsync();
        await publisher.FlushAsync().WaitAsync(Patience);

        Assert.Equal(expectedWindow, proxy.MaxOutstandingPublishes);
        await AssertDeliveredAsync(0, receipts, exactlyOnce: qos == MqttQualityOfServiceLevel.ExactlyOnce);
    }
}
