using Spectre.Console;
using StoreForward.Outbox;

namespace StoreForward.Cli.Commands;

/// <summary>What <c>compact --json</c> writes.</summary>
internal sealed record Compaction(long BytesBefore, long BytesAfter);

/// <summary><c>compact</c>: see <see cref="OutboxStore.Compact"/>; the store holds the same messages afterwards.</summary>
internal sealed class CompactCommand(CliEnvironment environment) : StoreCommand<StoreSettings>(environment)
{
    private protected override int Run(OutboxStore store, StoreSettings settings, CancellationToken cancellationToken)
    {
        var (before, after) = CliProgress.Run(Environment, "Compacting", store.SegmentCount, store.Compact, cancellationToken);
        if (settings.Json)
            CliJson.Write(Environment, new Compaction(before, after));
        else
            Environment.Out.WriteLine($"Compacted {store.FilePath}: {Format.Bytes(before)} -> {Format.Bytes(after)}.");
        return ExitCodes.Ok;
    }
}
