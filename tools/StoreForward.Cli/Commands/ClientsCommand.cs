using Spectre.Console;
using Spectre.Console.Cli;
using StoreForward.Outbox;

namespace StoreForward.Cli.Commands;

/// <summary>
/// <c>clients</c>: every outbox the store file holds, one per ClientId. A file holds several when publishers of one process
/// name the same StorePath; the other verbs then take <c>--client-id</c> to say whose outbox they work on.
/// </summary>
internal sealed class ClientsCommand(CliEnvironment environment) : Command<StoreSettings>
{
    public override int Execute(CommandContext context, StoreSettings settings, CancellationToken cancellationToken)
    {
        var path = Path.GetFullPath(settings.Path);
        return StoreFailures.RunOnExistingStore(environment, path, settings.KeyFile, key =>
        {
            var stores = OutboxStore.OpenEvery(path, key, settings.AllowWorldWritableDirectory);
            try
            {
                var now = environment.Time.GetUtcNow();
                var clients = stores
                    .Where(s => settings.ClientId is null || s.ClientId == settings.ClientId)
                    .Select(s => new ClientOutbox(
                        s.ClientId,
                        s.Snapshot.PendingMessages,
                        s.Snapshot.PendingBytes,
                        s.Snapshot.OldestStoredAt,
                        s.Snapshot.OldestStoredAt is { } oldest ? now - oldest : null,
                        s.Snapshot.DeadLetters,
                        s.Snapshot.LastSequence,
                        s.SessionServer is not null))
                    .ToList();
                if (settings.Json)
                    CliJson.Write(environment, new StoreClients(path, clients));
                else
                    Show(path, clients);
                return ExitCodes.Ok;
            }
            finally
            {
                foreach (var store in stores)
                    store.Dispose();
            }
        });
    }

    private void Show(string path, List<ClientOutbox> clients)
    {
        var table = new Table().Border(TableBorder.Rounded).Title(Markup.Escape(path))
            .AddColumn("ClientId")
            .AddColumn(new TableColumn("Messages").RightAligned())
            .AddColumn(new TableColumn("Bytes").RightAligned())
            .AddColumn("Oldest")
            .AddColumn(new TableColumn("Dead letters").RightAligned())
            .AddColumn(new TableColumn("Last sequence").RightAligned())
            .AddColumn("Broker session");
        foreach (var client in clients)
        {
            table.AddRow(
                new Text(client.ClientId ?? "(none recorded)"),
                new Text(Format.Count(client.Messages)),
                new Text(Format.Bytes(client.Bytes)),
                new Text(client.OldestAge is { } age ? $"{Format.Age(age)} old" : "-"),
                new Text(Format.Count(client.DeadLetters)),
                new Text(Format.Count(client.LastSequence)),
                new Text(client.SessionEstablished ? "established" : "none yet"));
        }

        environment.Out.Write(table);
    }
}

/// <summary>What <c>clients --json</c> writes.</summary>
internal sealed record StoreClients(string Path, IReadOnlyList<ClientOutbox> Clients);

/// <summary>One ClientId's outbox in a store file.</summary>
internal sealed record ClientOutbox(
    string? ClientId,
    long Messages,
    long Bytes,
    DateTimeOffset? OldestStoredAt,
    TimeSpan? OldestAge,
    long DeadLetters,
    long LastSequence,
    bool SessionEstablished);
