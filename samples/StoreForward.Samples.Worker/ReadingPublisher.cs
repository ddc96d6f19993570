using System.Globalization;
using System.Text;
using MQTTnet.Protocol;
using StoreForward;

namespace StoreForward.Samples.Worker;

/// <summary>Publishes a made-up temperature reading at a fixed interval; each returns once it is on disk.</summary>
internal sealed partial class ReadingPublisher(StoreForwardPublisher publisher, IConfiguration configuration, ILogger<ReadingPublisher> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var topic = configuration["Sample:Topic"] ?? "plant/temperature";
        var interval = TimeSpan.FromMilliseconds(configuration.GetValue("Sample:IntervalMs", 1000));
        using var timer = new PeriodicTimer(interval);
        var reading = 20.0;
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
        {
            reading += Random.Shared.NextDouble() - 0.5;
            var payload = Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{{\"t\":{reading:F2}}}"));
            var receipt = await publisher.PublishAsync(topic, payload, MqttQualityOfServiceLevel.AtLeastOnce, retain: true, stoppingToken).ConfigureAwait(false);
            var status = publisher.Status;
            Stored(logger, receipt.Sequence, status.PendingMessages, status.IsConnected);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Stored #{Sequence}; {Pending} pending, connected: {Connected}")]
    private static partial void Stored(ILogger logger, long sequence, long pending, bool connected);
}
