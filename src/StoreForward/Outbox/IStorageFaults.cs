namespace StoreForward.Outbox;

/// <summary>
/// What a fault-injection test may do to the store's files: fail a write as a full disk would, fail an fsync, or watch
/// writes to undo those not yet synced, as a power cut would. Production never sets one.
/// </summary>
internal interface IStorageFaults
{
    /// <summary>Before <paramref name="count"/> bytes are written at <paramref name="position"/>.</summary>
    void BeforeWrite(DurableFileStream file, long position, int count);

    /// <summary>Before the file's length changes to <paramref name="length"/>.</summary>
    void BeforeSetLength(DurableFileStream file, long length);

    /// <summary>Before an fsync.</summary>
    void BeforeSync(DurableFileStream file);

    /// <summary>After an fsync returned: everything written so far is durable.</summary>
    void AfterSync(DurableFileStream file);
}
