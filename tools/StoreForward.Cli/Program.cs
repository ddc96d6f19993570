using StoreForward.Cli;

using var cancellation = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    // The first Ctrl+C stops the work between two steps (a store is never left half-written); a second one kills.
    e.Cancel = !cancellation.IsCancellationRequested;
    cancellation.Cancel();
};
return StoreForwardCli.Run(args, CliEnvironment.System(), cancellation.Token);
