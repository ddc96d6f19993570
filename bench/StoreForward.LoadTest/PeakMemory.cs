using System.Diagnostics;

namespace StoreForward.LoadTest;

/// <summary>Samples this process's resident set every 50 ms while alive and keeps the peak.</summary>
internal sealed class PeakMemory : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _sampling;
    private long _peak;

    private PeakMemory() => _sampling = SampleAsync();

    public double PeakMegabytes => Interlocked.Read(ref _peak) / (1024.0 * 1024);

    public static PeakMemory Start()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        return new PeakMemory();
    }

    private async Task SampleAsync()
    {
        using var process = Process.GetCurrentProcess();
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(50));
        try
        {
            do
            {
                process.Refresh();
                var rss = process.WorkingSet64;
                if (rss > Interlocked.Read(ref _peak))
                    Interlocked.Exchange(ref _peak, rss);
            }
            while (await timer.WaitForNextTickAsync(_stop.Token));
        }
        catch (OperationCanceledException)
        {
            // Sampling ends with the measured work.
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _sampling;
        _stop.Dispose();
    }
}
