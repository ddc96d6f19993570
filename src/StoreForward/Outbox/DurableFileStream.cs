namespace StoreForward.Outbox;

/// <summary>
/// A file stream whose <see cref="Flush()"/> reaches stable storage (fsync). LiteDB flushes the data file before it
/// truncates the log at a checkpoint, but through its stream wrapper that flush is a plain <see cref="FileStream.Flush()"/>,
/// which leaves the pages in the OS cache: a power cut right after a checkpoint would lose committed messages. Making
/// every flush durable closes that hole, and gives the outbox one call for "commit is on disk".
/// </summary>
internal sealed class DurableFileStream : Stream
{
    private readonly FileStream _file;

    private DurableFileStream(FileStream file) => _file = file;

    /// <summary>
    /// Opens (or creates) <paramref name="path"/> for exclusive read/write. <see cref="FileShare.None"/> takes an exclusive
    /// lock, which on Linux is an flock that a second process (or a second opener in this one) cannot get.
    /// </summary>
    public static DurableFileStream OpenExclusive(string path)
    {
        var options = new FileStreamOptions
        {
            Mode = FileMode.OpenOrCreate,
            Access = FileAccess.ReadWrite,
            Share = FileShare.None,
            BufferSize = 0,
        };
        if (!OperatingSystem.IsWindows())
        {
            // The outbox holds every payload: owner-only from the moment the file exists.
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        return new DurableFileStream(new FileStream(path, options));
    }

    /// <summary>Counts the fsyncs this stream issued; tests use it to show that no publish completes before one.</summary>
    public long SyncCount { get; private set; }

    /// <summary>Faults injected by tests; null in production.</summary>
    internal IStorageFaults? Faults { get; set; }

    public override bool CanRead => _file.CanRead;

    public override bool CanSeek => _file.CanSeek;

    public override bool CanWrite => _file.CanWrite;

    public override long Length => _file.Length;

    public override long Position
    {
        get => _file.Position;
        set => _file.Position = value;
    }

    public override void Flush()
    {
        Faults?.BeforeSync(this);
        _file.Flush(flushToDisk: true);
        SyncCount++;
        Faults?.AfterSync(this);
    }

    public override int Read(byte[] buffer, int offset, int count) => _file.Read(buffer, offset, count);

    public override int Read(Span<byte> buffer) => _file.Read(buffer);

    public override long Seek(long offset, SeekOrigin origin) => _file.Seek(offset, origin);

    public override void SetLength(long value)
    {
        Faults?.BeforeSetLength(this, value);
        _file.SetLength(value);
    }

    public override void Write(byte[] buffer, int offset, int count)
    {
        Faults?.BeforeWrite(this, _file.Position, count);
        _file.Write(buffer, offset, count);
    }

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        Faults?.BeforeWrite(this, _file.Position, buffer.Length);
        _file.Write(buffer);
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _file.Dispose();
        }

        base.Dispose(disposing);
    }
}
