namespace StoreForward.Tests.Infrastructure;

/// <summary>
/// What the broker harnesses (<see cref="MosquittoBroker"/>, <see cref="AedesBroker"/>, <see cref="RabbitMqNode"/>)
/// share: a real broker on loopback, private to one test or test class, that the test can stop gracefully, kill,
/// restart and start again on the same port(s), and that disposal takes down for good. What a stop or a kill leaves
/// behind is the broker's own affair; each subclass says so in its summary.
/// </summary>
/// <remarks>
/// Lifecycle changes run one at a time, so that a test calling them from several tasks cannot leave two broker
/// processes fighting over one port or data directory: a restart must not race a stop, and disposal waits for both.
/// </remarks>
public abstract class BrokerHarness : IAsyncDisposable
{
    private readonly SemaphoreSlim _lifecycle = new(1, 1);

    /// <summary>Loopback only: tests must never talk to anything but 127.0.0.1.</summary>
#pragma warning disable CA1822 // Instance on purpose: tests read the harness's Host and its port as a pair.
    public string Host => "127.0.0.1";
#pragma warning restore CA1822

    /// <summary>True while the broker's process is alive.</summary>
    public abstract bool IsRunning { get; }

    /// <summary>Set once disposal has begun; nothing may start the broker after that.</summary>
    protected bool IsDisposed { get; private set; }

    /// <summary>How the broker names itself in "… is already running.".</summary>
    protected abstract string BrokerName { get; }

    /// <summary>How many times a start on the same port(s) tries while a port is still in use (5 unless overridden).</summary>
    protected virtual int BindAttempts => 5;

    /// <summary>Graceful stop: returns once the broker has shut down as it does when asked to.</summary>
    public Task StopAsync() => OneAtATimeAsync(() => StopProcessAsync(graceful: true));

    /// <summary>Crash: SIGKILL, so the broker saves nothing on its way down.</summary>
    public Task KillAsync() => OneAtATimeAsync(() => StopProcessAsync(graceful: false));

    /// <summary>Graceful stop followed by a start on the same port(s).</summary>
    public Task RestartAsync() => OneAtATimeAsync(async () =>
    {
        await StopProcessAsync(graceful: true).ConfigureAwait(false);
        await StartProcessAsync(BindAttempts, throwIfPortInUse: true).ConfigureAwait(false);
    });

    /// <summary>
    /// Starts the broker again, on the same port(s), after <see cref="StopAsync"/> or <see cref="KillAsync"/>; throws
    /// <see cref="InvalidOperationException"/> while it is still running.
    /// </summary>
    public Task StartAgainAsync() => OneAtATimeAsync(() =>
    {
        if (IsRunning)
        {
            throw new InvalidOperationException($"{BrokerName} is already running.");
        }

        return StartProcessAsync(BindAttempts, throwIfPortInUse: true);
    });

    /// <summary>
    /// Takes the broker down without grace (<see cref="StopForDisposalAsync"/>), then lets the subclass clean up
    /// (<see cref="CleanUpAfterStop"/>). A failing stop is swallowed: disposal must not mask the test's own failure.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        if (IsDisposed)
        {
            return;
        }

        IsDisposed = true;

        // Past the overridable OneAtATimeAsync, which may refuse once disposed; still after any change under way.
        await RunExclusiveAsync(async () =>
        {
            try
            {
                await StopForDisposalAsync().ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is InvalidOperationException or TimeoutException)
            {
                // Disposal must not mask the test's own failure.
            }
        }).ConfigureAwait(false);

        CleanUpAfterStop();
        _lifecycle.Dispose();
        GC.SuppressFinalize(this);
    }

    /// <summary>
    /// The first start of a new harness: <paramref name="prepare"/> (if any) once, then <paramref name="usePorts"/>
    /// picks free loopback port(s) and the broker starts on them. A failed start disposes the harness, so the caller has
    /// nothing to clean up.
    /// </summary>
    protected static async Task<T> StartOnFreePortsAsync<T>(T harness, Func<Task>? prepare, Func<Task> usePorts)
        where T : BrokerHarness
    {
        ArgumentNullException.ThrowIfNull(harness);
        ArgumentNullException.ThrowIfNull(usePorts);
        try
        {
            if (prepare is not null)
            {
                await prepare().ConfigureAwait(false);
            }

            // A free port we picked can be taken by someone else before the broker binds it; on the first start we are
            // still free to pick others. An attempt can cost a whole boot, so only a bind failure earns another one.
            const int portAttempts = 3;
            for (var attempt = 1; ; attempt++)
            {
                await usePorts().ConfigureAwait(false);
                if (await harness.StartProcessAsync(bindAttempts: 1, throwIfPortInUse: attempt == portAttempts).ConfigureAwait(false))
                {
                    return harness;
                }
            }
        }
        catch
        {
            await harness.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Deletes a harness's temp directory with everything in it, giving up quietly on a failure.</summary>
    protected static void DeleteDirectory(string directory)
    {
        try
        {
            Directory.Delete(directory, recursive: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // A leftover temp directory is harmless; failing the test over it is not.
        }
    }

    /// <summary>
    /// Launches the broker on the harness's port(s) and waits until it serves. Returns false (nothing left running)
    /// when a port stayed in use for all <paramref name="bindAttempts"/> and <paramref name="throwIfPortInUse"/> is
    /// false; throws with the broker's log on any other failure.
    /// </summary>
    protected abstract Task<bool> StartProcessAsync(int bindAttempts, bool throwIfPortInUse);

    /// <summary>Stops the broker: gracefully (it shuts down as when asked to) or not (SIGKILL); nothing to do when it is down.</summary>
    protected abstract Task StopProcessAsync(bool graceful);

    /// <summary>The last stop, from <see cref="DisposeAsync"/>: no need to be graceful, nothing of the broker is used after it.</summary>
    protected virtual Task StopForDisposalAsync() => StopProcessAsync(graceful: false);

    /// <summary>What disposal does once the broker is down, e.g. delete its data directory (see <see cref="DeleteDirectory"/>); nothing by default.</summary>
    protected virtual void CleanUpAfterStop()
    {
    }

    /// <summary>Lifecycle changes never overlap: a restart must not race a stop.</summary>
    protected virtual Task OneAtATimeAsync(Func<Task> change) => RunExclusiveAsync(change);

    private async Task RunExclusiveAsync(Func<Task> change)
    {
        await _lifecycle.WaitAsync().ConfigureAwait(false);
        try
        {
            await change().ConfigureAwait(false);
        }
        finally
        {
            _lifecycle.Release();
        }
    }
}
