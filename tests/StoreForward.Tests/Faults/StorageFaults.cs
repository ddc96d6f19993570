using StoreForward.Outbox;

namespace StoreForward.Tests.Faults;

/// <summary>Every write fails as on a full disk (ENOSPC).</summary>
internal sealed class FullDisk : IStorageFaults
{
    public void BeforeWrite(DurableFileStream file, long position, int count) => throw new IOException("No space left on device");

    public void BeforeSetLength(DurableFileStream file, long length)
    {
        if (length > file.Length)
            throw new IOException("No space left on device");
    }

    public void BeforeSync(DurableFileStream file)
    {
    }

    public void AfterSync(DurableFileStream file)
    {
    }
}

/// <summary>The next fsync fails (EIO), after the data was written.</summary>
internal sealed class FailingSync(Exception error) : IStorageFaults
{
    private int _failed;

    public void BeforeWrite(DurableFileStream file, long position, int count)
    {
    }

    public void BeforeSetLength(DurableFileStream file, long length)
    {
    }

    public void BeforeSync(DurableFileStream file)
    {
        if (Interlocked.Exchange(ref _failed, 1) == 0)
            throw error;
    }

    public void AfterSync(DurableFileStream file)
    {
    }
}

/// <summary>
/// A power cut at an fsync: it remembers what every write and truncation replaced since each file's last fsync, and at
/// the chosen fsync puts those bytes and lengths back and throws, so the files hold exactly what had reached stable
/// storage. The process then goes on as if it had been restarted on that disk.
/// </summary>
internal sealed class PowerCut(int atSync) : IStorageFaults
{
    private readonly Dictionary<DurableFileStream, (long Length, List<(long Position, byte[] Bytes)> Undo)> _unsynced = [];
    private int _syncs;

    public bool Happened { get; private set; }

    /// <summary>The fsync, counted from 1, at which the power goes.</summary>
    public int AtSync => atSync;

    public void BeforeWrite(DurableFileStream file, long position, int count)
    {
        if (Happened)
            throw new IOException("the power is off");
        var undo = Journal(file);
        var end = Math.Min(position + count, file.Length);
        if (end > position)
            undo.Add((position, ReadAt(file, position, (int)(end - position))));
    }

    public void BeforeSetLength(DurableFileStream file, long length)
    {
        if (Happened)
            throw new IOException("the power is off");
        var undo = Journal(file);
        if (length < file.Length)
            undo.Add((length, ReadAt(file, length, (int)(file.Length - length))));
    }

    public void BeforeSync(DurableFileStream file)
    {
        if (Happened)
            throw new IOException("the power is off");
        if (++_syncs < atSync)
            return;

        Happened = true;
        foreach (var (victim, (length, undo)) in _unsynced)
        {
            for (var i = undo.Count - 1; i >= 0; i--)
                WriteAt(victim, undo[i].Position, undo[i].Bytes);
            SetLengthRaw(victim, length);
        }

        _unsynced.Clear();
        throw new IOException("power cut: writes since the last fsync are gone");
    }

    public void AfterSync(DurableFileStream file) => _unsynced.Remove(file);

    private List<(long Position, byte[] Bytes)> Journal(DurableFileStream file)
    {
        if (!_unsynced.TryGetValue(file, out var entry))
        {
            entry = (file.Length, []);
            _unsynced[file] = entry;
        }

        return entry.Undo;
    }

    private static byte[] ReadAt(DurableFileStream file, long position, int count)
    {
        var keep = file.Position;
        var bytes = new byte[count];
        file.Position = position;
        file.ReadExactly(bytes);
        file.Position = keep;
        return bytes;
    }

    private void WriteAt(DurableFileStream file, long position, byte[] bytes)
    {
        // The journal is done with this file; writing through it must not record anything.
        file.Faults = null;
        file.Position = position;
        file.Write(bytes);
        file.Faults = this;
    }

    private void SetLengthRaw(DurableFileStream file, long length)
    {
        file.Faults = null;
        file.SetLength(length);
        file.Faults = this;
    }
}
