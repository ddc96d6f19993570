using System.Diagnostics;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace StoreForward.LoadTest;

/// <summary>
/// The disk's limit: what the file system makes durable when the writer costs nothing. Appends a group of records of
/// <see cref="RecordBytes"/> to a file in one write, then fdatasync, in a loop, on the same file system as the stores.
/// StoreForward's enqueue is shown as a ratio to the rate at the group size its producers make (128) and at one record.
/// </summary>
internal static partial class DiskLimit
{
    /// <summary>About what one stored message holds: a 200 B payload, its topic and the record's fields.</summary>
    public const int RecordBytes = 260;

    /// <summary>Records per second made durable, appending <paramref name="group"/> records per fdatasync.</summary>
    public static double Measure(string folder, int group, TimeSpan duration)
    {
        var path = Path.Combine(folder, $"disk-limit-{group}-{Guid.NewGuid():N}.bin");
        try
        {
            using var file = File.OpenHandle(path, FileMode.CreateNew, FileAccess.Write);
            var records = new byte[group * RecordBytes];
            Random.Shared.NextBytes(records);
            long offset = 0, written = 0;
            var clock = Stopwatch.StartNew();
            while (clock.Elapsed < duration)
            {
                RandomAccess.Write(file, records, offset);
                offset += records.Length;
                DataSync(file);
                written += group;
            }

            return written / clock.Elapsed.TotalSeconds;
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static void DataSync(SafeFileHandle file)
    {
        if (!OperatingSystem.IsLinux())
        {
            RandomAccess.FlushToDisk(file);
            return;
        }

        if (fdatasync((int)file.DangerousGetHandle()) != 0)
            throw new IOException($"fdatasync failed (errno {Marshal.GetLastPInvokeError()}).");
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int fdatasync(int fd);
}
