using MQTTnet.Protocol;
using StoreForward.Cli;
using StoreForward.Outbox;

namespace StoreForward.Tests.Cli;

/// <summary>The tool on a store file that several publishers share: it lists them, and works on one named by its ClientId.</summary>
[Trait("Category", "Unit")]
public sealed class SharedStoreCommandTests : CliTest
{
    private void CreateSharedStore()
    {
        using var a = OutboxStore.Open(StorePath, clientId: "gw-a");
        using var b = OutboxStore.Open(StorePath, clientId: "gw-b");
        foreach (var (store, count) in new[] { (a, 2), (b, 3) })
        {
            store.BeginBatch();
            for (var i = 0; i < count; i++)
                store.Append($"{store.ClientId}/t", [(byte)i], MqttQualityOfServiceLevel.AtLeastOnce, retain: false, Now.AddMinutes(-5 + i));
            store.CommitBatch();
        }
    }

    [Fact]
    public void Clients_lists_every_ClientId_of_the_file_with_its_own_counts()
    {
        CreateSharedStore();

        var result = Run("clients", StorePath, "--json");

        Assert.Equal(ExitCodes.Ok, result.ExitCode);
        var clients = result.Json.GetProperty("clients").EnumerateArray()
            .Select(c => (c.GetProperty("clientId").GetString(), c.GetProperty("messages").GetInt64(), c.GetProperty("lastSequence").GetInt64()))
            .ToList();
        Assert.Equal([("gw-a", 2L, 2L), ("gw-b", 3L, 3L)], clients);

        var table = Run("clients", StorePath);
        Assert.Equal(ExitCodes.Ok, table.ExitCode);
        Assert.Contains("gw-a", table.Out, StringComparison.Ordinal);
        Assert.Contains("5m 0s old", table.Out, StringComparison.Ordinal);
    }

    [Fact]
    public void A_verb_works_on_the_outbox_its_client_id_names_and_refuses_to_guess()
    {
        CreateSharedStore();

        var unnamed = Run("stats", StorePath);
        Assert.Equal(ExitCodes.StoreUnreadable, unnamed.ExitCode);
        Assert.Contains("shared by the publishers with the ClientIds 'gw-a', 'gw-b'; name one (--client-id)", unnamed.Error, StringComparison.Ordinal);

        var named = Run("stats", StorePath, "--client-id", "gw-b", "--json");
        Assert.Equal(ExitCodes.Ok, named.ExitCode);
        Assert.Equal(3, named.Json.GetProperty("messages").GetInt64());
        var topics = named.Json.GetProperty("topTopics").EnumerateArray().Select(t => t.GetProperty("topic").GetString()).ToList();
        Assert.Equal(["gw-b/t"], topics);

        // Purging one publisher's dead letters, or compacting, leaves the other's outbox as it was.
        Assert.Equal(ExitCodes.Ok, Run("compact", StorePath, "--client-id", "gw-a").ExitCode);
        using var a = OutboxStore.Open(StorePath, clientId: "gw-a");
        using var b = OutboxStore.Open(StorePath, clientId: "gw-b");
        Assert.Equal(2, a.Snapshot.PendingMessages);
        Assert.Equal(3, b.Snapshot.PendingMessages);
        Assert.Empty(a.Verify());
        Assert.Empty(b.Verify());
    }
}
