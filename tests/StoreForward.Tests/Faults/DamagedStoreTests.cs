namespace StoreForward.Tests.Faults;

/// <summary>
/// A store cut short, filled with random bytes, or not a StoreForward outbox must stop the start with a clear error,
/// never open as an empty queue; with QuarantineUnreadableStore the app starts fresh and the damaged file is kept aside.
/// </summary>
[Trait("Category", "Fault")]
public sealed class DamagedStoreTests : IDisposable
{
    private readonly TestDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string StorePath => _dir.File("outbox.db");

    private async Task<long> FillAsync(int messages)
    {
        await using (var publisher = await StoreForwardPublisher.StartAsync(TestOptions.Offline(StorePath)))
        {
            for (var i = 0; i < messages; i++)
                await publisher.PublishAsync("plant/t", new byte[1000]);
        }

        return new FileInfo(StorePath).Length;
    }

    private void Truncate(long length)
    {
        using (var file = new FileStream(StorePath, FileMode.Open))
            file.SetLength(length);
        File.Delete(StoreForward.Outbox.OutboxStore.LogPathOf(StorePath));
    }

    public static TheoryData<string> Cuts => ["100", "8192", "16484", "40960", "last page"];

    [Theory]
    [MemberData(nameof(Cuts))]
    public async Task A_truncated_store_is_refused_as_damaged_naming_the_file(string cut)
    {
        var length = await FillAsync(300);
        Truncate(cut == "last page" ? length - 8192 : long.Parse(cut, System.Globalization.CultureInfo.InvariantCulture));

        var error = await Assert.ThrowsAsync<OutboxStoreException>(() => StoreForwardPublisher.StartAsync(TestOptions.Offline(StorePath)));

        Assert.Equal(OutboxStoreProblem.Damaged, error.Problem);
        Assert.Contains(StorePath, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_intact_store_of_one_header_page_opens_as_new()
    {
        // What a crash during the very first start leaves: LiteDB's header page and nothing else.
        using (var header = new LiteDB.LiteDatabase(StorePath))
            header.Checkpoint();
        Assert.Equal(8192, new FileInfo(StorePath).Length);

        await using var publisher = await StoreForwardPublisher.StartAsync(TestOptions.Offline(StorePath));
        Assert.Equal(0, publisher.Status.PendingMessages);
    }

    [Fact]
    public async Task With_quarantine_a_damaged_store_is_moved_aside_intact_and_a_fresh_one_starts()
    {
        var bytes = new byte[64 * 1024];
        new Random(11).NextBytes(bytes);
        await File.WriteAllBytesAsync(StorePath, bytes);
        var options = TestOptions.Offline(StorePath);
        options.QuarantineUnreadableStore = true;

        await using var publisher = await StoreForwardPublisher.StartAsync(options);

        Assert.NotNull(publisher.QuarantinedStorePath);
        Assert.Contains(".quarantined-", publisher.QuarantinedStorePath, StringComparison.Ordinal);
        Assert.Equal(bytes, await File.ReadAllBytesAsync(publisher.QuarantinedStorePath));
        var receipt = await publisher.PublishAsync("plant/t", new byte[1]);
        Assert.Equal(1, receipt.Sequence);
    }

    [Fact]
    public async Task Quarantine_leaves_a_store_held_by_another_publisher_alone()
    {
        await using var first = await StoreForwardPublisher.StartAsync(TestOptions.Offline(StorePath));
        var sameClient = TestOptions.Offline(StorePath);
        sameClient.QuarantineUnreadableStore = true;
        var otherClient = TestOptions.Offline(StorePath, "other");
        otherClient.QuarantineUnreadableStore = true;

        var error = await Assert.ThrowsAsync<OutboxStoreException>(() => StoreForwardPublisher.StartAsync(sameClient));
        await using var sharing = await StoreForwardPublisher.StartAsync(otherClient);

        Assert.Equal(OutboxStoreProblem.InUse, error.Problem);
        Assert.Null(sharing.QuarantinedStorePath);
        Assert.Empty(Directory.GetFiles(_dir.Path, "*.quarantined-*"));
    }
}
