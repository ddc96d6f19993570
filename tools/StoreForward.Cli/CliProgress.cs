using Spectre.Console;

namespace StoreForward.Cli;

/// <summary>
/// A progress bar on standard error for work over the whole store, shown only when standard error is a terminal. Each
/// report is also where Ctrl+C stops the work: reports come between steps, never inside a commit.
/// </summary>
internal static class CliProgress
{
    public static T Run<T>(CliEnvironment environment, string description, long total, Func<IProgress<int>, T> work, CancellationToken cancellationToken)
    {
        if (!environment.Error.Profile.Capabilities.Interactive)
            return work(new Reporter(_ => { }, cancellationToken));
        return environment.Error.Progress()
            .AutoClear(true)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
            .Start(context =>
            {
                var task = context.AddTask(description, maxValue: Math.Max(1, total));
                return work(new Reporter(done => task.Value = done, cancellationToken));
            });
    }

    /// <summary>Reports on the caller's thread: <see cref="Progress{T}"/> would post each report to the thread pool.</summary>
    private sealed class Reporter(Action<int> report, CancellationToken cancellationToken) : IProgress<int>
    {
        public void Report(int value)
        {
            cancellationToken.ThrowIfCancellationRequested();
            report(value);
        }
    }
}
