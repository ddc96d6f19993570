using System.Diagnostics;
using MQTTnet.Exceptions;

namespace StoreForward.Samples.Publisher;

/// <summary>
/// The demo's scripted outage: stops the embedded broker after a number of readings, keeps it down for a while and
/// starts it again, then checks with a fresh subscriber that the retained value survived the restart.
/// </summary>
internal sealed class BrokerOutage(EmbeddedBroker? broker, int stopAfter, TimeSpan length, string topic)
{
    private enum Phase { Before, Down, Over }

    private Phase _phase = broker is null || stopAfter == 0 ? Phase.Over : Phase.Before;
    private readonly Stopwatch _down = new();
    private Task _retainedCheck = Task.CompletedTask;

    public bool IsBrokerDown => _phase == Phase.Down;

    /// <summary>Call after every reading: stops or restarts the broker when it is time.</summary>
    public async Task AfterPublishAsync(int published, CancellationToken cancellationToken)
    {
        if (_phase == Phase.Before && published >= stopAfter)
        {
            await broker!.StopAsync();
            _phase = Phase.Down;
            _down.Start();
            Console.WriteLine($"[broker] down for {length.TotalMilliseconds:0} ms: readings queue up in the outbox meanwhile");
        }
        else if (_phase == Phase.Down && _down.Elapsed >= length)
        {
            await RestartAsync(cancellationToken);
        }
    }

    /// <summary>Ends the outage when the broker is still down (waiting out its length), and waits for the retained check.</summary>
    public async Task FinishAsync(CancellationToken cancellationToken)
    {
        if (_phase == Phase.Down)
        {
            var left = length - _down.Elapsed;
            if (left > TimeSpan.Zero)
            {
                Console.WriteLine($"[broker] still down for {left.TotalMilliseconds:0} ms");
                await Task.Delay(left, cancellationToken);
            }

            await RestartAsync(cancellationToken);
        }

        await _retainedCheck;
    }

    private async Task RestartAsync(CancellationToken cancellationToken)
    {
        await broker!.RestartAsync();
        _phase = Phase.Over;

        // In the background, so that readings keep flowing meanwhile.
        _retainedCheck = CheckRetainedAsync(broker.Port, cancellationToken);
    }

    private async Task CheckRetainedAsync(int port, CancellationToken cancellationToken)
    {
        string? retained;
        try
        {
            retained = await SampleSubscriber.ReadRetainedAsync("127.0.0.1", port, topic, cancellationToken);
        }
        catch (MqttCommunicationException ex)
        {
            Console.WriteLine($"retained after restart: could not check ({ex.Message})");
            return;
        }

        Console.WriteLine(retained is null
            ? "retained after restart: none (publish with --retain true to keep a last value)"
            : $"retained after restart: {topic} {retained}");
    }
}
