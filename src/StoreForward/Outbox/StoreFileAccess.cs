namespace StoreForward.Outbox;

/// <summary>
/// Who may touch the store's files. The outbox holds every payload until it is delivered, so on Unix its files are the
/// app user's alone (0600), and a directory in which any user could delete, replace or plant files is refused.
/// </summary>
internal static class StoreFileAccess
{
    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode GroupOrOthers =
        UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute
        | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;

    /// <summary>
    /// Why <paramref name="directory"/> cannot hold a store, or null. A directory every user can write to lets any of them
    /// delete the store or swap it for a link to another file; with the sticky bit (as /tmp has) they cannot touch files
    /// they do not own, so it is accepted.
    /// </summary>
    public static string? DirectoryProblem(string directory)
    {
        if (OperatingSystem.IsWindows())
            return null;
        var mode = File.GetUnixFileMode(directory);
        return mode.HasFlag(UnixFileMode.OtherWrite) && !mode.HasFlag(UnixFileMode.StickyBit)
            ? $"the directory '{directory}' can be written by every user, who could delete or replace the store; use a directory only the app's user can write (chmod o-w), or one with the sticky bit."
            : null;
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
