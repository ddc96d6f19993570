using System.Diagnostics;
using System.Text;

namespace StoreForward.Tests.Infrastructure;

/// <summary>
/// Runs Debian's <c>rabbitmqctl</c> with a node's environment (its HOME, hence its Erlang cookie). The CLI is itself an
/// Erlang node that listens for distribution; by default on 0.0.0.0 and on a fixed range of 11 ports (35672-35682),
/// so the environment of a <see cref="RabbitMqNode"/> (<see cref="RabbitMqNodeSetup"/>) binds it to 127.0.0.1 and to any
/// free port instead.
/// </summary>
public static class RabbitMqCtl
{
    /// <summary>Where Debian's rabbitmq-server package installs the CLI (not on PATH for every user).</summary>
    public const string CtlPath = "/usr/lib/rabbitmq/bin/rabbitmqctl";

    /// <summary>
    /// Runs <c>rabbitmqctl</c> with <paramref name="arguments"/>; returns its exit code and everything it printed
    /// (stdout, then stderr). Kills it and throws <see cref="TimeoutException"/> after <paramref name="timeout"/>.
    /// </summary>
    public static Task<(int ExitCode, string Output)> RunAsync(
        IReadOnlyDictionary<string, string> environment, TimeSpan timeout, params string[] arguments) =>
        RunAsync(environment, timeout, CancellationToken.None, arguments);

    /// <summary>
    /// As <see cref="RunAsync(IReadOnlyDictionary{string, string}, TimeSpan, string[])"/>; cancelling
    /// <paramref name="cancellationToken"/> kills the CLI and throws <see cref="OperationCanceledException"/>.
    /// </summary>
    public static async Task<(int ExitCode, string Output)> RunAsync(
        IReadOnlyDictionary<string, string> environment, TimeSpan timeout, CancellationToken cancellationToken, params string[] arguments)
    {
        ArgumentNullException.ThrowIfNull(environment);
        ArgumentNullException.ThrowIfNull(arguments);

        var psi = new ProcessStartInfo(CtlPath)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            CreateNoWindow = true,
        };
        foreach (var argument in arguments)
        {
            psi.ArgumentList.Add(argument);
        }

        RabbitMqNodeSetup.ApplyEnvironment(psi, environment);

        using var process = new Process { StartInfo = psi };
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        process.OutputDataReceived += (_, e) => Append(stdout, e.Data);
        process.ErrorDataReceived += (_, e) => Append(stderr, e.Data);

        if (!process.Start())
        {
            throw new InvalidOperationException($"Could not start {CtlPath}.");
        }

        process.StandardInput.Close();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout);
        try
        {
            await process.WaitForExitAsync(cts.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // `exec erl` makes the CLI one process (its own beam.smp); kill it so it does not outlive the test.
            try
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is InvalidOperationException or TimeoutException)
            {
                // Exited meanwhile, or stuck in the kernel: nothing more we can do.
            }

            cancellationToken.ThrowIfCancellationRequested();
            throw new TimeoutException(
                $"rabbitmqctl {string.Join(' ', arguments)} did not finish within {timeout.TotalSeconds:0} s.\n{Combine(stdout, stderr)}");
        }

        return (process.ExitCode, Combine(stdout, stderr));
    }

    private static void Append(StringBuilder sb, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (sb)
        {
            sb.Append(line).Append('\n');
        }
    }

    private static string Combine(StringBuilder stdout, StringBuilder stderr)
    {
        lock (stdout)
        {
            lock (stderr)
            {
                return (stdout.ToString() + stderr).TrimEnd();
            }
        }
    }
}
