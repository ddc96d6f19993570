using System.Diagnostics;

namespace StoreForward.Tests.Infrastructure;

/// <summary>
/// An xunit class fixture whose broker starts from the constructor, so that the fixtures of one class boot in parallel
/// (xunit constructs all of them before it initializes the first); <see cref="InitializeAsync"/> only waits for it.
/// </summary>
/// <typeparam name="T">What is started and disposed with the fixture.</typeparam>
public abstract class BackgroundStartFixture<T> : IAsyncLifetime
    where T : class, IAsyncDisposable
{
    private readonly Stopwatch _startTime = Stopwatch.StartNew();
    private readonly Task<T> _starting;

    protected BackgroundStartFixture(Func<Task<T>> start) => _starting = Task.Run(start);

    /// <summary>How long the start took, from the fixture's construction.</summary>
    public TimeSpan StartDuration { get; private set; }

    /// <summary>What was started; set once <see cref="InitializeAsync"/> has returned.</summary>
    protected T Started { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Started = await _starting;
        StartDuration = _startTime.Elapsed;
    }

    public async Task DisposeAsync()
    {
        // A failed start has cleaned up after itself (and InitializeAsync has reported it).
        await ((Task)_starting).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        if (_starting.IsCompletedSuccessfully)
            await _starting.Result.DisposeAsync();
    }
}
