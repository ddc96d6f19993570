namespace StoreForward.Tests.Infrastructure;

/// <summary>The checkout the tests run from: the folder holding StoreForward.sln, found by walking up from the test assembly.</summary>
public static class Checkout
{
    /// <summary>The checkout's root folder.</summary>
    public static string Root { get; } = Find();

    private static string Find()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "StoreForward.sln")))
            directory = directory.Parent;
        return directory?.FullName ?? throw new InvalidOperationException($"No StoreForward.sln above {AppContext.BaseDirectory}: the tests must run from a checkout.");
    }
}
