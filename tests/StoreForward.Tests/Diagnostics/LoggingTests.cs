using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using MQTTnet.Protocol;
using StoreForward.Tests.EndToEnd;

namespace StoreForward.Tests.Diagnostics;

/// <summary>What an operator reads in the log across a broker restart, and what never appears there.</summary>
public sealed class LoggingTests : BrokerTest
{
    [Fact]
    public async Task A_broker_restart_is_logged_as_disconnect_backoff_and_connect_without_credentials_or_payloads()
    {
        var logs = new FakeLoggerProvider();
        using var factory = LoggerFactory.Create(b => b.AddProvider(logs).SetMinimumLevel(LogLevel.Debug));
        var options = Options();
        options.LoggerFactory = factory;
        options.Username = "gateway";
        options.Password = "s3cret-pw";
        var publisher = await StartPublisherAsync(options);
        await publisher.PublishAsync("sf/data", "payload-text-42"u8.ToArray(), MqttQualityOfServiceLevel.AtLeastOnce);
        await publisher.FlushAsync().WaitAsync(Patience);

        await Broker.RestartAsync();
        var deadline = DateTime.UtcNow + Patience;
        while (logs.Collector.GetSnapshot().Count(r => r.Id.Name == "Connected") < 2 && DateTime.UtcNow < deadline)
            await Task.Delay(20);

        var records = logs.Collector.GetSnapshot();
        var events = records.Select(r => r.Id.Name).ToList();
        Assert.Equal("StoreOpened", events[0]);
        Assert.Equal(2, events.Count(e => e == "Connected"));
        Assert.Contains("Disconnected", events);
        Assert.Contains("Backoff", events);
        Assert.All(records, r => Assert.Equal("StoreForward", r.Category));
        Assert.Contains($"127.0.0.1:{Broker.Port}", records.First(r => r.Id.Name == "Connected").Message, StringComparison.Ordinal);
        Assert.DoesNotContain(records, r => r.Message.Contains("s3cret-pw", StringComparison.Ordinal) || r.Message.Contains("payload-text-42", StringComparison.Ordinal));
    }
}
