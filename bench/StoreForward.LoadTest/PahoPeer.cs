using System.Diagnostics;
using System.Globalization;
using MQTTnet.Protocol;

namespace StoreForward.LoadTest;

/// <summary>
/// The peer row: <c>bench/paho/paho_publisher.c</c>, Eclipse Paho C's MQTTAsync with its file persistence, built here with
/// gcc against Debian's libpaho-mqtt-dev. Skipped with a note when either is missing.
/// </summary>
internal sealed class PahoPeer
{
    private const string Header = "/usr/include/MQTTAsync.h";
    private readonly string _program;

    private PahoPeer(string program) => _program = program;

    public const string Missing = "not measured: needs gcc and libpaho-mqtt-dev";

    /// <summary>Builds the peer program into <paramref name="folder"/>, or returns null when it cannot be built here.</summary>
    public static async Task<PahoPeer?> BuildAsync(string folder, CancellationToken cancellationToken)
    {
        var source = Path.Combine(AppContext.BaseDirectory, "paho_publisher.c");
        if (!File.Exists(Header) || !File.Exists(source))
            return null;
        var program = Path.Combine(folder, "paho_publisher");
        var (exitCode, _, errors) = await RunAsync("gcc", ["-O2", "-o", program, source, "-lpaho-mqtt3a", "-lpthread"], cancellationToken);
        if (exitCode != 0)
        {
            Console.Error.WriteLine($"Paho peer not built: {errors}");
            return null;
        }

        return new PahoPeer(program);
    }

    public async Task<double> MeasureAsync(
        string host, int port, int count, int inFlight, MqttQualityOfServiceLevel qos, int payloadBytes, string persistenceFolder, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(persistenceFolder);
        var inv = CultureInfo.InvariantCulture;
        var (exitCode, output, errors) = await RunAsync(
            _program,
            [$"{host}:{port}", count.ToString(inv), ((int)qos).ToString(inv), inFlight.ToString(inv), payloadBytes.ToString(inv), persistenceFolder],
            cancellationToken);
        if (exitCode != 0)
            throw new InvalidOperationException($"The Paho peer failed ({exitCode}): {errors}");
        return double.Parse(output, inv);
    }

    private static async Task<(int ExitCode, string Output, string Errors)> RunAsync(string program, string[] arguments, CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
            start.ArgumentList.Add(argument);
        Process process;
        try
        {
            process = Process.Start(start)!;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return (-1, "", e.Message);
        }

        using (process)
        {
            var output = process.StandardOutput.ReadToEndAsync(cancellationToken);
            var errors = process.StandardError.ReadToEndAsync(cancellationToken);
            await process.WaitForExitAsync(cancellationToken);
            return (process.ExitCode, (await output).Trim(), (await errors).Trim());
        }
    }
}
