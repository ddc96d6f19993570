using StoreForward.Cli;
using StoreForward.Outbox;

namespace StoreForward.Tests.Cli;

/// <summary>What every verb does before it reads a store: it never harms a file that is not one, and it opens a store where the app does.</summary>
[Trait("Category", "Unit")]
public sealed class StoreAccessCommandTests : CliTest
{
    [Fact]
    public void A_file_that_is_not_a_store_is_refused_and_left_as_it_was()
    {
        var notes = Directory.File("notes.txt");
        File.WriteAllText(notes, "not an outbox");

        var result = Run("stats", notes);

        Assert.Equal(ExitCodes.StoreUnreadable, result.ExitCode);
        Assert.Contains("does not start with a LiteDB header", result.Error, StringComparison.Ordinal);
        Assert.Equal("not an outbox", File.ReadAllText(notes));
        Assert.False(File.Exists(OutboxStore.LogPathOf(notes)));
    }

    [Fact]
    public void A_store_in_a_container_volume_opens_with_the_same_allowance_as_the_app()
    {
        var volume = Directory.File("volume");
        System.IO.Directory.CreateDirectory(volume);
        var path = Path.Combine(volume, "outbox.db");
        using (OutboxStore.Open(path))
        {
        }

        File.SetUnixFileMode(volume, (UnixFileMode)0b111_111_111);

        var refused = Run("stats", path);
        var allowed = Run("stats", path, "--allow-world-writable-directory");

        Assert.Equal(ExitCodes.StoreUnreadable, refused.ExitCode);
        Assert.Contains("--allow-world-writable-directory", refused.Error, StringComparison.Ordinal);
        Assert.Equal(ExitCodes.Ok, allowed.ExitCode);
    }
}
