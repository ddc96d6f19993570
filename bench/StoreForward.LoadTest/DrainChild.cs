using System.Diagnostics;
using System.Globalization;

namespace StoreForward.LoadTest;

/// <summary>
/// Drains a filled store in a fresh process, started as this tool with <c>--drain-child</c>: its peak RSS is then what a
/// gateway that restarts on a full store would see, not this process's, which has just filled the store.
/// </summary>
internal static class DrainChild
{
    public const string Flag = "--drain-child";

    public sealed record Result(TimeSpan StartUp, TimeSpan Drained, DateTime StartedAt, double PeakRssMegabytes);

    public static StoreForwardOptions Options(string storePath, string clientId, string host, int port, int window, byte[]? encryptionKey) => new()
    {
        EncryptionKey = encryptionKey,
        ClientId = clientId,
        Host = host,
        Port = port,
        StorePath = storePath,
        MaxInFlight = window,
        ReconnectInitialDelay = TimeSpan.FromMilliseconds(50),
        ReconnectMaxDelay = TimeSpan.FromMilliseconds(500),
    };

    /// <summary>In the parent: runs <see cref="DrainAsync"/> in a child and reads its one line of figures.</summary>
    /// <param name="tieredPgo">
    /// False runs the child with <c>DOTNET_TieredPGO=0</c>, as an app can set in its project: without the instrumented
    /// tier the JIT reaches optimized code sooner, which is what a process that restarts into a backlog needs.
    /// </param>
    public static async Task<Result> RunAsync(
        string storePath, string clientId, string host, int port, int window, byte[]? encryptionKey, bool tieredPgo, CancellationToken cancellationToken)
    {
        var inv = CultureInfo.InvariantCulture;
        var start = new ProcessStartInfo(Environment.ProcessPath!) { RedirectStandardOutput = true, RedirectStandardError = true };
        if (!tieredPgo)
            start.Environment["DOTNET_TieredPGO"] = "0";
        if (Path.GetFileNameWithoutExtension(Environment.ProcessPath) == "dotnet")
            start.ArgumentList.Add(typeof(DrainChild).Assembly.Location);
        foreach (var argument in new[] { Flag, storePath, clientId, host, port.ToString(inv), window.ToString(inv) })
            start.ArgumentList.Add(argument);

        // A benchmark's throwaway key; a real app never takes its key on the command line.
        if (encryptionKey is not null)
            start.ArgumentList.Add(Convert.ToBase64String(encryptionKey));

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var errors = process.StandardError.ReadToEndAsync(cancellationToken);
        await process.WaitForExitAsync(cancellationToken);
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"The drain process failed ({process.ExitCode}): {await errors}");
        var figures = (await output).Trim().Split(' ');
        return new Result(
            TimeSpan.FromMilliseconds(double.Parse(figures[0], inv)),
            TimeSpan.FromMilliseconds(double.Parse(figures[1], inv)),
            new DateTime(long.Parse(figures[2], inv), DateTimeKind.Utc),
            double.Parse(figures[3], inv));
    }

    /// <summary>In the child: drain, then print the figures on one line.</summary>
    public static async Task<int> MainAsync(string[] args)
    {
        var inv = CultureInfo.InvariantCulture;
        var key = args.Length > 5 ? Convert.FromBase64String(args[5]) : null;
        var result = await DrainAsync(Options(args[0], args[1], args[2], int.Parse(args[3], inv), int.Parse(args[4], inv), key), CancellationToken.None);
        Console.WriteLine(string.Join(' ',
            result.StartUp.TotalMilliseconds.ToString(inv), result.Drained.TotalMilliseconds.ToString(inv), result.StartedAt.Ticks.ToString(inv),
            result.PeakRssMegabytes.ToString(inv)));
        return 0;
    }

    /// <summary>Starts a publisher on the store and waits until the broker acknowledged everything in it.</summary>
    public static async Task<Result> DrainAsync(StoreForwardOptions options, CancellationToken cancellationToken)
    {
        await using var memory = PeakMemory.Start();
        var clock = Stopwatch.StartNew();
        await using var publisher = await StoreForwardPublisher.StartAsync(options, cancellationToken);
        var startUp = clock.Elapsed;
        var startedAt = DateTime.UtcNow;
        await publisher.FlushAsync(cancellationToken);
        return new Result(startUp, clock.Elapsed, startedAt, memory.PeakMegabytes);
    }
}
