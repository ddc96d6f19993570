namespace StoreForward.Tests.Infrastructure;

/// <summary>
/// Keeps a broker harness's lifecycle changes from overlapping: a restart must not race a stop, and disposal waits for
/// both, so two broker processes never fight over one port or data directory.
/// </summary>
public sealed class LifecycleGate : IDisposable
{
    private readonly SemaphoreSlim _one = new(1, 1);

    public async Task RunAsync(Func<Task> change)
    {
        await _one.WaitAsync().ConfigureAwait(false);
        try
        {
            await change().ConfigureAwait(false);
        }
        finally
        {
            _one.Release();
        }
    }

    /// <summary>The last stop, from a dispose: a failure of the broker's own stop must not mask the test's own failure.</summary>
    public Task StopForDisposalAsync(Func<Task> stop) =>
        RunAsync(async () =>
        {
            try
            {
                await stop().ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is InvalidOperationException or TimeoutException)
            {
                // Disposal must not mask the test's own failure.
            }
        });

    public void Dispose() => _one.Dispose();
}
