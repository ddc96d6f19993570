using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using MQTTnet.Protocol;

namespace StoreForward.Tests.Faults;

/// <summary>
/// One run of <c>StoreForward.CrashHost</c> in its own process: it publishes until it is killed, and every line
/// "ack run producer n sequence" it printed is a publish whose <c>PublishAsync</c> had returned.
/// </summary>
public sealed class CrashHostProcess : IDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<(int Run, int Producer, int N)> _acknowledged = new();
    private readonly TaskCompletionSource _started = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly ConcurrentQueue<string> _errors = new();

    private CrashHostProcess(Process process)
    {
        _process = process;
        _process.OutputDataReceived += (_, e) => OnLine(e.Data);
        _process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
                _errors.Enqueue(e.Data);
        };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public IReadOnlyCollection<(int Run, int Producer, int N)> Acknowledged => _acknowledged;

    public bool Drained { get; private set; }

    public string Errors => string.Join('\n', _errors);

    /// <summary>The host's build output beside this test assembly's (same configuration and framework).</summary>
    private static string HostPath
    {
        get
        {
            var testDir = AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar);
            var hostDir = testDir.Replace(
                $"{Path.DirectorySeparatorChar}StoreForward.Tests{Path.DirectorySeparatorChar}",
                $"{Path.DirectorySeparatorChar}StoreForward.CrashHost{Path.DirectorySeparatorChar}",
                StringComparison.Ordinal);
            return Path.Combine(hostDir, "StoreForward.CrashHost.dll");
        }
    }

    public static CrashHostProcess Start(
        string storePath, int port, string clientId, MqttQualityOfServiceLevel qos, int run, bool drain = false, byte[]? key = null, string? presence = null, int? producers = null, int? willDelaySeconds = null, int publishers = 1)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[]
        {
            HostPath, "--store", storePath, "--port", port.ToString(CultureInfo.InvariantCulture), "--client-id", clientId,
            "--qos", ((int)qos).ToString(CultureInfo.InvariantCulture), "--run", run.ToString(CultureInfo.InvariantCulture),
        })
            start.ArgumentList.Add(arg);
        if (drain)
            start.ArgumentList.Add("--drain");
        if (publishers != 1)
        {
            start.ArgumentList.Add("--publishers");
            start.ArgumentList.Add(publishers.ToString(CultureInfo.InvariantCulture));
        }

        if (presence is not null)
        {
            foreach (var arg in new[] { "--presence", presence, "--keep-alive", "2" })
                start.ArgumentList.Add(arg);
            if (willDelaySeconds is { } delay)
            {
                start.ArgumentList.Add("--will-delay");
                start.ArgumentList.Add(delay.ToString(CultureInfo.InvariantCulture));
            }
        }

        if (producers is { } count)
        {
            start.ArgumentList.Add("--producers");
            start.ArgumentList.Add(count.ToString(CultureInfo.InvariantCulture));
        }

        if (key is not null)
        {
            // A test's throwaway key; a real app never takes its key on the command line.
            start.ArgumentList.Add("--key");
            start.ArgumentList.Add(Convert.ToBase64String(key));
        }
        return new CrashHostProcess(Process.Start(start) ?? throw new InvalidOperationException("the crash host did not start"));
    }

    public Task WaitUntilStartedAsync(TimeSpan timeout) => _started.Task.WaitAsync(timeout);

    /// <summary>SIGKILL: no dispose, no flush, no goodbye.</summary>
    public async Task KillAsync()
    {
        _process.Kill();
        await _process.WaitForExitAsync();

        // Lets the last redirected lines reach the handlers.
        _process.WaitForExit();
    }

    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        await _process.WaitForExitAsync().WaitAsync(timeout);
        _process.WaitForExit();
        return _process.ExitCode;
    }

    private void OnLine(string? line)
    {
        if (line is null)
            return;
        var parts = line.Split(' ');
        if (parts[0] == "started")
        {
            _started.TrySetResult();
        }
        else if (parts[0] == "drained")
        {
            Drained = true;
        }
        else if (parts.Length == 5 && parts[0] == "ack" && long.TryParse(parts[4], CultureInfo.InvariantCulture, out _))
        {
            // Five fields, the sequence last: a line cut short by the kill never yields a wrong message number.
            _acknowledged.Enqueue((int.Parse(parts[1], CultureInfo.InvariantCulture), int.Parse(parts[2], CultureInfo.InvariantCulture), int.Parse(parts[3], CultureInfo.InvariantCulture)));
        }
    }

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
                _process.Kill();
        }
        catch (InvalidOperationException)
        {
        }

        _process.Dispose();
    }
}
