using System.Collections.Concurrent;
using System.Text;
using MQTTnet.Protocol;
using StoreForward.Outbox;
using Xunit.Abstractions;

namespace StoreForward.Tests.Faults;

/// <summary>
/// Power is cut at an fsync chosen at random while 4 producers publish: everything written since each file's last fsync
/// is undone, as a disk would lose it. Every publish that had returned must still be in the store afterwards, in the
/// outbox of the publisher that took it when several publishers share the store file.
/// </summary>
[Trait("Category", "Fault")]
public sealed class PowerLossTests(ITestOutputHelper output) : IDisposable
{
    private readonly TestDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData(200, 30, 1)]
    [InlineData(64 * 1024, 12, 1)]
    [InlineData(200, 20, 3)]
    public async Task A_power_cut_at_any_fsync_loses_no_acknowledged_message(int payloadBytes, int trials, int publisherCount)
    {
        var random = new Random(Environment.TickCount);
        var totals = (Acknowledged: 0, Stored: 0, Cuts: 0);
        for (var trial = 0; trial < trials; trial++)
        {
            var path = _dir.File($"outbox-{trial}.db");
            var cut = new PowerCut(atSync: random.Next(2, 60));
            var acknowledged = new ConcurrentBag<string>();
            var publishers = await Task.WhenAll(Enumerable.Range(0, publisherCount).Select(p => StoreForwardPublisher.StartAsync(TestOptions.Offline(path, $"pub-{p}"))));
            try
            {
                // The faults are the file's, which the publishers share.
                await publishers[0].SetStorageFaultsForTests(cut);
                var stop = 0;
                await Task.WhenAll(Enumerable.Range(0, 4).Select(producer => Task.Run(async () =>
                {
                    var publisher = publishers[producer % publisherCount];
                    for (var n = 0; Volatile.Read(ref stop) == 0 && n < 2000; n++)
                    {
                        var id = $"{producer % publisherCount}:{producer}/{n}";
                        var payload = new byte[payloadBytes];
                        Encoding.ASCII.GetBytes(id).CopyTo(payload, 0);
                        try
                        {
                            await publisher.PublishAsync("plant/t", payload, MqttQualityOfServiceLevel.ExactlyOnce);
                            acknowledged.Add(id);
                        }
                        catch (OutboxStoreException)
                        {
                            Interlocked.Exchange(ref stop, 1);
                        }
                    }
                })));
            }
            finally
            {
                foreach (var publisher in publishers)
                    await publisher.DisposeAsync();
            }

            // A fresh start on the disk as the power cut left it: each publisher's outbox holds what it acknowledged.
            var stored = new HashSet<string>();
            for (var p = 0; p < publisherCount; p++)
            {
                using var reopened = OutboxStore.Open(path, clientId: $"pub-{p}");
                var own = reopened.ReadAfter(0, int.MaxValue).Select(m => Encoding.ASCII.GetString(m.Payload).TrimEnd('\0')).ToList();
                Assert.All(own, id => Assert.StartsWith($"{p}:", id, StringComparison.Ordinal));
                Assert.Equal(own.Count, reopened.Snapshot.PendingMessages);
                Assert.Empty(reopened.Verify());
                stored.UnionWith(own);
            }

            var lost = acknowledged.Where(id => !stored.Contains(id)).ToList();
            Assert.True(lost.Count == 0, $"trial {trial}, cut at fsync {cut.AtSync}: {lost.Count} acknowledged publishes lost, first {string.Join(", ", lost.Take(5))}");
            totals = (totals.Acknowledged + acknowledged.Count, totals.Stored + stored.Count, totals.Cuts + (cut.Happened ? 1 : 0));
        }

        output.WriteLine($"{payloadBytes} B payloads, {publisherCount} publisher(s) on the store: {trials} trials, {totals.Cuts} power cuts, {totals.Acknowledged} acknowledged, {totals.Stored} found after the cuts, 0 lost");
        Assert.True(totals.Cuts >= trials / 2, "too few trials reached their power cut to mean anything");
    }
}
