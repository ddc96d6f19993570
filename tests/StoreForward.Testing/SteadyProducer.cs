using System.Globalization;
using System.Text;
using MQTTnet.Protocol;

namespace StoreForward.Tests.Infrastructure;

/// <summary>
/// A producer that keeps publishing <c>sf/data</c> messages whose payload is their index, one after another, while a test
/// stops and starts brokers around it; <see cref="StopAsync"/> ends it and returns the receipts in index order.
/// </summary>
public sealed class SteadyProducer : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly List<PublishReceipt> _receipts = [];
    private readonly Task _producing;

    private SteadyProducer(StoreForwardPublisher publisher, MqttQualityOfServiceLevel qos, TimeSpan pause) =>
        _producing = Task.Run(() => ProduceAsync(publisher, qos, pause));

    /// <summary>Starts publishing at once; <paramref name="pause"/> (default 1 ms) spaces the publishes.</summary>
    public static SteadyProducer Start(StoreForwardPublisher publisher, MqttQualityOfServiceLevel qos, TimeSpan? pause = null) =>
        new(publisher, qos, pause ?? TimeSpan.FromMilliseconds(1));

    private async Task ProduceAsync(StoreForwardPublisher publisher, MqttQualityOfServiceLevel qos, TimeSpan pause)
    {
        while (!_stop.IsCancellationRequested)
        {
            var payload = Encoding.UTF8.GetBytes(_receipts.Count.ToString(CultureInfo.InvariantCulture));
            _receipts.Add(await publisher.PublishAsync("sf/data", payload, qos));
            await Task.Delay(pause);
        }
    }

    /// <summary>Stops after the publish in progress; every receipt returned is durable.</summary>
    public async Task<IReadOnlyList<PublishReceipt>> StopAsync()
    {
        await _stop.CancelAsync();
        await _producing;
        return _receipts;
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        try
        {
            await _producing;
        }
        catch (Exception)
        {
            // The test already failed on its own account.
        }

        _stop.Dispose();
    }
}
