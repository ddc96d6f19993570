using System.Globalization;
using MQTTnet.Protocol;
using StoreForward.Tests.EndToEnd;
using Xunit.Abstractions;

namespace StoreForward.Tests.Faults;

/// <summary>
/// The publisher process is killed with SIGKILL at random moments under load from 4 producers, again and again, on the
/// same store and ClientId; afterwards every publish it acknowledged must be at the broker, QoS 2 exactly once, and each
/// producer's messages in order; with encryption at rest exactly as without, and with three publishers sharing the store
/// file (each its own ClientId) exactly as with one. Cycles: STOREFORWARD_CRASH_CYCLES (default 20).
/// </summary>
[Trait("Category", "Fault")]
public sealed class AppCrashTests(ITestOutputHelper output) : BrokerTest
{
    private static int Cycles =>
        int.TryParse(Environment.GetEnvironmentVariable("STOREFORWARD_CRASH_CYCLES"), CultureInfo.InvariantCulture, out var cycles) ? cycles : 20;

    [Theory]
    [InlineData(MqttQualityOfServiceLevel.ExactlyOnce, false)]
    [InlineData(MqttQualityOfServiceLevel.AtLeastOnce, false)]
    [InlineData(MqttQualityOfServiceLevel.ExactlyOnce, true)]
    [InlineData(MqttQualityOfServiceLevel.ExactlyOnce, false, 3)]
    public async Task Killing_the_publisher_at_random_moments_loses_no_acknowledged_message(MqttQualityOfServiceLevel qos, bool encrypted, int publishers = 1)
    {
        var key = encrypted ? System.Security.Cryptography.RandomNumberGenerator.GetBytes(32) : null;
        var seed = Environment.TickCount;
        var random = new Random(seed);
        var acknowledged = new HashSet<(int Run, int Producer, int N)>();

        for (var run = 0; run < Cycles; run++)
        {
            using var host = CrashHostProcess.Start(StorePath, Broker.Port, ClientId, qos, run, key: key, publishers: publishers);
            await host.WaitUntilStartedAsync(TimeSpan.FromSeconds(30));
            await Task.Delay(random.Next(100, 1000));
            await host.KillAsync();
            acknowledged.UnionWith(host.Acknowledged);
        }

        using (var drain = CrashHostProcess.Start(StorePath, Broker.Port, ClientId, qos, Cycles, drain: true, key: key, publishers: publishers))
        {
            Assert.Equal(0, await drain.WaitForExitAsync(Patience));
            Assert.True(drain.Drained, drain.Errors);
        }

        await Subscriber.WaitForQuietAsync(TimeSpan.FromSeconds(1), Patience);
        var received = Subscriber.Messages.Where(m => m.Topic == "sf/crash").Select(m => Parse(m.PayloadText)).ToList();
        var lost = acknowledged.Except(received).ToList();
        var duplicates = received.Count - received.Distinct().Count();
        var outOfOrder = received.Distinct().GroupBy(m => (m.Run, m.Producer))
            .Sum(g => g.Zip(g.Skip(1)).Count(p => p.Second.N < p.First.N));

        var distinct = received.Distinct().Count();
        output.WriteLine($"seed {seed}, QoS {(int)qos}{(encrypted ? ", encrypted" : "")}{(publishers > 1 ? $", {publishers} publishers on one store" : "")}: {Cycles} kills, {acknowledged.Count} acknowledged, {distinct} distinct delivered " +
            $"({distinct - acknowledged.Count} stored but killed before their ack was printed), " +
            $"lost {lost.Count}, duplicates {duplicates}, out of order {outOfOrder}");
        Assert.True(acknowledged.Count > Cycles, "the load produced too few acknowledged publishes to mean anything");
        Assert.True(lost.Count == 0, $"seed {seed}: {lost.Count} acknowledged publishes lost, first {string.Join(", ", lost.Take(5))}");
        Assert.Equal(0, outOfOrder);
        if (qos == MqttQualityOfServiceLevel.ExactlyOnce)
            Assert.Equal(0, duplicates);
        else
            Assert.True(duplicates <= Cycles * 2 * publishers * new StoreForwardOptions { ClientId = "x" }.MaxInFlight, $"{duplicates} duplicates: more than the two windows a kill can cost");
    }

    private static (int Run, int Producer, int N) Parse(string payload)
    {
        var parts = payload.Split('/');
        return (int.Parse(parts[0], CultureInfo.InvariantCulture), int.Parse(parts[1], CultureInfo.InvariantCulture), int.Parse(parts[2], CultureInfo.InvariantCulture));
    }
}
