namespace StoreForward.Outbox;

/// <summary>
/// Who may touch the store's files. The outbox holds every payload until it is delivered, so on Unix its files are the
/// app user's alone (0600), and a directory in which any user could delete, replace or plant files is refused.
/// </summary>
internal static class StoreFileAccess
{
    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode OwnerOnlyDirectory = OwnerOnly | UnixFileMode.UserExecute;
    private const UnixFileMode GroupOrOthers =
        UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute
        | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;

    /// <summary>
    /// Creates <paramref name="directory"/> and any missing parent, owner-only (0700) as the store's files are, and syncs
    /// each new entry into its parent so that a power cut cannot take the directory away from under a durable store.
    /// </summary>
    /// <exception cref="IOException">The directory cannot be created (no permission, a file in the way, a read-only disk).</exception>
    /// <exception cref="UnauthorizedAccessException">The directory cannot be created.</exception>
    public static void CreateDirectory(string directory)
    {
        var missing = new Stack<string>();
        for (var level = directory; level is not null && !Directory.Exists(level); level = Path.GetDirectoryName(level))
            missing.Push(level);

        foreach (var level in missing)
        {
            if (OperatingSystem.IsWindows())
                Directory.CreateDirectory(level);
            else
                Directory.CreateDirectory(level, OwnerOnlyDirectory);
            DirectorySync.Flush(Path.GetDirectoryName(level)!);
        }
    }

    /// <summary>
    /// Why <paramref name="directory"/> cannot hold a store, or null. A directory every user can write to lets any of them
    /// delete the store or swap it for a link to another file, and one above it lets them rename the store's directory and
    /// put another in its place; so the directory and every one above it are checked. With the sticky bit (as /tmp has)
    /// users cannot touch entries they do not own, so such a directory is accepted. <paramref name="allowWorldWritable"/>
    /// accepts them anyway, for a container volume (a Kubernetes emptyDir, a Docker volume) that is 0777 without the
    /// sticky bit and that no other user can reach.
    /// </summary>
    public static string? DirectoryProblem(string directory, bool allowWorldWritable)
    {
        if (OperatingSystem.IsWindows() || allowWorldWritable)
            return null;
        for (var level = directory; level is not null; level = Path.GetDirectoryName(level))
        {
            var mode = File.GetUnixFileMode(level);
            if (mode.HasFlag(UnixFileMode.OtherWrite) && !mode.HasFlag(UnixFileMode.StickyBit))
            {
                var what = level == directory ? "" : $", above the store's directory '{directory}',";
                return $"the directory '{level}'{what} can be written by every user, who could delete or replace the store; use directories only the app's user can write (chmod o-w), or with the sticky bit, or set AllowWorldWritableStoreDirectory (storeforward: --allow-world-writable-directory) when it is a container volume no other user can reach.";
            }
        }

        return null;
    }

    /// <summary>
    /// Takes group and other permissions off an existing store file (one copied in, or made by a tool with a wider
    /// umask). New files are created owner-only. A file this user cannot change is left as it is: opening it then shows
    /// whether it is usable at all.
    /// </summary>
    public static void RestrictToOwner(string path)
    {
        if (OperatingSystem.IsWindows() || !File.Exists(path))
            return;
        try
        {
            if ((File.GetUnixFileMode(path) & GroupOrOthers) != 0)
                File.SetUnixFileMode(path, OwnerOnly);
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
