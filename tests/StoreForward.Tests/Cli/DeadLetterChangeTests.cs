using StoreForward.Cli;
using StoreForward.Outbox;

namespace StoreForward.Tests.Cli;

/// <summary><c>requeue</c> and <c>purge</c>: what they change in the store, and what they refuse.</summary>
[Trait("Category", "Unit")]
public sealed class DeadLetterChangeTests : CliTest
{
    [Fact]
    public void Requeue_moves_the_given_dead_letters_to_the_end_of_the_outbox()
    {
        CreateSampleStore();

        var result = Run("requeue", StorePath, "2", "--json");

        Assert.Equal(ExitCodes.Ok, result.ExitCode);
        Assert.Equal(1, result.Json.GetProperty("changed").GetInt32());
        Assert.Equal([12L], result.Json.GetProperty("sequences").EnumerateArray().Select(s => s.GetInt64()));
        using var store = OutboxStore.Open(StorePath);
        Assert.Equal([1L], store.ReadAllDeadLetters().Select(l => l.Letter.Sequence));
        var requeued = store.ReadAll().Last();
        Assert.Equal(12, requeued.Sequence);
        Assert.Equal("{\"v\":1}", System.Text.Encoding.UTF8.GetString(requeued.Payload));
        Assert.Equal(DateTimeOffset.UnixEpoch.AddSeconds(1), requeued.StoredAt);
        Assert.Equal(10, store.Snapshot.PendingMessages);
        Assert.Equal(1, store.Snapshot.DeadLetters);
    }

    [Fact]
    public void Requeue_names_sequences_that_are_not_dead_letters_and_still_requeues_the_others()
    {
        CreateSampleStore();

        var result = Run("requeue", StorePath, "1", "5", "9999");

        Assert.Equal(ExitCodes.ProblemsFound, result.ExitCode);
        Assert.Contains("5, 9999", result.Error, StringComparison.Ordinal);
        using var store = OutboxStore.Open(StorePath);
        Assert.Equal([2L], store.ReadAllDeadLetters().Select(l => l.Letter.Sequence));
        Assert.Equal(10, store.Snapshot.PendingMessages);
    }

    [Fact]
    public void Purge_all_deletes_every_dead_letter_and_nothing_else()
    {
        CreateSampleStore();

        var result = Run("purge", StorePath, "--all");

        Assert.Equal(ExitCodes.Ok, result.ExitCode);
        Assert.Contains("Purged 2 dead letters", result.Out, StringComparison.Ordinal);
        using var store = OutboxStore.Open(StorePath);
        Assert.Empty(store.ReadAllDeadLetters());
        Assert.Equal(0, store.Snapshot.DeadLetters);
        Assert.Equal(9, store.Snapshot.PendingMessages);
    }

    [Theory]
    [InlineData("purge")]
    [InlineData("purge", "1", "--all")]
    [InlineData("requeue")]
    [InlineData("requeue", "x")]
    public void A_selection_that_is_neither_sequences_nor_all_is_refused_before_anything_changes(params string[] args)
    {
        CreateSampleStore();

        var result = Run([args[0], StorePath, .. args[1..]]);

        Assert.Equal(ExitCodes.Usage, result.ExitCode);
        Assert.NotEmpty(result.Error);
        using var store = OutboxStore.Open(StorePath);
        Assert.Equal(2, store.Snapshot.DeadLetters);
    }
}
