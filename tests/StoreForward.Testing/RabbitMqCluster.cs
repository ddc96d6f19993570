using System.Diagnostics;
using System.Text.Json;

namespace StoreForward.Tests.Infrastructure;

/// <summary>
/// A RabbitMQ cluster of <see cref="RabbitMqNode"/>s on this machine: the nodes share an Erlang cookie, boot in
/// parallel, and every node after the first joins the first (<c>stop_app</c>, <c>reset</c>, <c>join_cluster</c>,
/// <c>start_app</c>). An MQTT message published on one node reaches subscribers on the others; a persistent
/// subscriber's queue lives on the node it first connected to. Forming two nodes takes about 15-20 s.
/// </summary>
/// <remarks>
/// A node stopped while another keeps running rejoins on <see cref="RabbitMqNode.StartAgainAsync"/> (with a nudge
/// for the MQTT plugin, which would otherwise serve only after 100 s; see <c>RabbitMqNode.UnblockMqttNodeAsync</c>).
/// While one of two nodes is down the plugin's client-id registry has no quorum, but the survivor still accepts
/// CONNECTs and delivers. Stopping all
/// nodes and starting only one that was not the last to stop does not work: RabbitMQ then waits (minutes) for the
/// peer it last saw.
/// </remarks>
public sealed class RabbitMqCluster : IAsyncDisposable
{
    private static readonly TimeSpan FormTimeout = TimeSpan.FromSeconds(30);

    private RabbitMqCluster(IReadOnlyList<RabbitMqNode> nodes) => Nodes = nodes;

    /// <summary>The nodes; <c>Nodes[0]</c> is the one the others joined.</summary>
    public IReadOnlyList<RabbitMqNode> Nodes { get; }

    /// <summary>Starts <paramref name="nodeCount"/> nodes and joins them into one cluster; returns once every node answers MQTT.</summary>
    public static async Task<RabbitMqCluster> StartAsync(int nodeCount = 2)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(nodeCount, 2);

        var cookie = RabbitMqNode.NewErlangCookie();
        var clusterId = Guid.NewGuid().ToString("N")[..6];
        var starts = Enumerable.Range(1, nodeCount)
            .Select(i => Task.Run(() => RabbitMqNode.StartAsync(cookie, $"sf-rmqc-{clusterId}-{i}")))
            .ToArray();

        try
        {
            await Task.WhenAll(starts).ConfigureAwait(false);
        }
        catch
        {
            // Each failed start cleaned up after itself; the successful ones are ours to dispose.
            await Task.WhenAll(starts.Where(t => t.IsCompletedSuccessfully).Select(t => t.Result.DisposeAsync().AsTask())).ConfigureAwait(false);
            throw;
        }

        var cluster = new RabbitMqCluster(starts.Select(t => t.Result).ToArray());
        try
        {
            var seed = cluster.Nodes[0];
            foreach (var node in cluster.Nodes.Skip(1))
            {
                await node.CtlAsync("stop_app").ConfigureAwait(false);
                await node.CtlAsync("reset").ConfigureAwait(false);
                await node.CtlAsync("join_cluster", seed.NodeName).ConfigureAwait(false);
                await node.CtlAsync("start_app").ConfigureAwait(false);
                await node.WaitUntilMqttReadyAsync().ConfigureAwait(false);
            }

            foreach (var node in cluster.Nodes)
            {
                node.IsClusterMember = true;
            }

            await cluster.WaitUntilAllRunningAsync().ConfigureAwait(false);
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>The cluster's running nodes as <paramref name="node"/> sees them (<c>rabbitmqctl cluster_status</c>), sorted.</summary>
    public static async Task<IReadOnlyList<string>> RunningNodesAsync(RabbitMqNode node)
    {
        ArgumentNullException.ThrowIfNull(node);
        var json = await node.CtlAsync("cluster_status", "--formatter", "json").ConfigureAwait(false);

        // The CLI may print warnings before the JSON document; it is the last line.
        var document = json.Split('\n', StringSplitOptions.RemoveEmptyEntries).Last(l => l.TrimStart().StartsWith('{'));
        using var parsed = JsonDocument.Parse(document);
        return parsed.RootElement.GetProperty("running_nodes").EnumerateArray()
            .Select(e => e.GetString() ?? "")
            .Order(StringComparer.Ordinal)
            .ToArray();
    }

    public async ValueTask DisposeAsync() =>
        await Task.WhenAll(Nodes.Select(n => n.DisposeAsync().AsTask())).ConfigureAwait(false);

    public override string ToString() => "rabbitmq cluster " + string.Join(", ", Nodes.Select(n => n.NodeName));

    private async Task WaitUntilAllRunningAsync()
    {
        var expected = Nodes.Select(n => n.NodeName).Order(StringComparer.Ordinal).ToArray();
        var started = Stopwatch.GetTimestamp();
        while (true)
        {
            var running = await RunningNodesAsync(Nodes[0]).ConfigureAwait(false);
            if (running.SequenceEqual(expected, StringComparer.Ordinal))
            {
                return;
            }

            if (Stopwatch.GetElapsedTime(started) >= FormTimeout)
            {
                throw new TimeoutException(
                    $"Cluster did not form within {FormTimeout.TotalSeconds:0} s: {Nodes[0].NodeName} sees [{string.Join(", ", running)}], " +
                    $"expected [{string.Join(", ", expected)}].\n{string.Join('\n', Nodes.Select(n => n.LogTail()))}");
            }

            await Task.Delay(500).ConfigureAwait(false);
        }
    }
}
