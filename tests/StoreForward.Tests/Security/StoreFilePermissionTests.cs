using StoreForward.Outbox;
using StoreForward.Tests.Outbox;

namespace StoreForward.Tests.Security;

/// <summary>The store's files are the app user's alone, and a directory anyone may write to is refused.</summary>
[Trait("Category", "Unit")]
public sealed class StoreFilePermissionTests : StoreTest
{
    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    [Fact]
    public void New_store_files_data_and_log_are_owner_only()
    {
        using (OutboxStore.Open(StorePath))
        {
            Assert.Equal(OwnerOnly, File.GetUnixFileMode(StorePath));
            Assert.Equal(OwnerOnly, File.GetUnixFileMode(OutboxStore.LogPathOf(StorePath)));
        }
    }

    [Fact]
    public void Existing_store_files_open_to_others_are_made_owner_only()
    {
        using (OutboxStore.Open(StorePath))
        {
        }

        var wide = OwnerOnly | UnixFileMode.GroupRead | UnixFileMode.OtherRead;
        File.SetUnixFileMode(StorePath, wide);
        File.SetUnixFileMode(OutboxStore.LogPathOf(StorePath), wide);

        using (OutboxStore.Open(StorePath))
        {
            Assert.Equal(OwnerOnly, File.GetUnixFileMode(StorePath));
            Assert.Equal(OwnerOnly, File.GetUnixFileMode(OutboxStore.LogPathOf(StorePath)));
        }
    }

    [Fact]
    public void A_directory_every_user_can_write_is_refused_unless_it_has_the_sticky_bit()
    {
        var shared = Directory.File("shared");
        System.IO.Directory.CreateDirectory(shared);
        File.SetUnixFileMode(shared, (UnixFileMode)0b111_111_111);

        var error = Assert.Throws<OutboxStoreException>(() => OutboxStore.Open(Path.Combine(shared, "outbox.db")));

        Assert.Equal(OutboxStoreProblem.Unusable, error.Problem);
        Assert.Contains("can be written by every user", error.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(shared, "outbox.db")));

        File.SetUnixFileMode(shared, (UnixFileMode)0b111_111_111 | UnixFileMode.StickyBit);
        using (OutboxStore.Open(Path.Combine(shared, "outbox.db")))
        {
        }
    }

    [Fact]
    public void A_store_directory_below_one_every_user_can_write_is_refused_naming_that_one()
    {
        // Any user could rename the owner-only directory and put one of their own in its place.
        var shared = Directory.File("shared");
        var own = Path.Combine(shared, "outbox");
        System.IO.Directory.CreateDirectory(own);
        File.SetUnixFileMode(own, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        File.SetUnixFileMode(shared, (UnixFileMode)0b111_111_111);

        var error = Assert.Throws<OutboxStoreException>(() => OutboxStore.Open(Path.Combine(own, "outbox.db")));

        Assert.Equal(OutboxStoreProblem.Unusable, error.Problem);
        Assert.Contains($"the directory '{shared}', above the store's directory '{own}', can be written by every user", error.Message, StringComparison.Ordinal);
        using (OutboxStore.Open(Path.Combine(own, "outbox.db"), allowWorldWritableDirectory: true))
        {
        }
    }

    [Fact]
    public async Task A_container_volume_every_user_can_write_is_accepted_when_the_option_says_so()
    {
        var volume = Directory.File("emptyDir");
        System.IO.Directory.CreateDirectory(volume);
        File.SetUnixFileMode(volume, (UnixFileMode)0b111_111_111);
        var options = TestOptions.Offline(Path.Combine(volume, "outbox.db"));

        await Assert.ThrowsAsync<OutboxStoreException>(() => StoreForwardPublisher.StartAsync(options));

        options.AllowWorldWritableStoreDirectory = true;
        await using var publisher = await StoreForwardPublisher.StartAsync(options);
        await publisher.PublishAsync("t", "x"u8.ToArray());
        Assert.Equal(OwnerOnly, File.GetUnixFileMode(options.StorePath));
    }
}
