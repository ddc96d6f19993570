using System.Globalization;
using MQTTnet.Protocol;

namespace StoreForward.Samples.Publisher;

/// <summary>A command-line flag is unknown, missing its value or has a bad value.</summary>
internal sealed class UsageException(string message) : Exception(message);

/// <summary>The sample's command-line flags, parsed by hand.</summary>
internal sealed record SampleSettings
{
    public const string Usage = """
        StoreForward sample publisher: the classic sensor loop, publishing a simulated temperature through a durable outbox.

        Usage: StoreForward.Samples.Publisher [options]

          --broker HOST:PORT   MQTT broker to publish to. Default: none, which hosts an embedded broker on a free
                               127.0.0.1 port and stops it partway through to show messages queueing up.
          --client-id ID       Static MQTT client id of the publisher. Default: storeforward-sample-publisher
          --topic TOPIC        Topic of the readings. Default: plant/temperature
          --qos 0|1|2          Quality of service. Default: 1
          --retain true|false  Publish the readings as retained messages. Default: true
          --interval-ms MS     Pause between readings. Default: 500
          --count N            Publish N readings, wait until all are delivered, then exit 0. Default: run until Ctrl+C
          --store PATH         Outbox file. Default: storeforward-sample.db in the current directory
          --restart-after N    Embedded broker only: stop the broker after N readings (0: never). Default: 10
          --outage-ms MS       Embedded broker only: how long the broker stays down. Default: 3000
          --help               Show this help.

        Exit codes: 0 stopped cleanly (Ctrl+C) or --count reached, 1 unexpected failure, 2 bad arguments.
        """;

    public bool ShowHelp { get; private init; }

    /// <summary>The external broker, or <see langword="null"/> for the embedded one.</summary>
    public (string Host, int Port)? Broker { get; private init; }

    public string ClientId { get; private init; } = "storeforward-sample-publisher";

    public string Topic { get; private init; } = "plant/temperature";

    public MqttQualityOfServiceLevel Qos { get; private init; } = MqttQualityOfServiceLevel.AtLeastOnce;

    public bool Retain { get; private init; } = true;

    public TimeSpan Interval { get; private init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>How many readings to publish, or <see langword="null"/> to run until Ctrl+C.</summary>
    public int? Count { get; private init; }

    public string StorePath { get; private init; } = "storeforward-sample.db";

    /// <summary>Readings after which the embedded broker is stopped; 0 never stops it.</summary>
    public int RestartAfter { get; private init; } = 10;

    public TimeSpan Outage { get; private init; } = TimeSpan.FromMilliseconds(3000);

    /// <summary>Parses the arguments; throws <see cref="UsageException"/> naming the first problem.</summary>
    public static SampleSettings Parse(IReadOnlyList<string> args)
    {
        var settings = new SampleSettings();
        var embeddedOnlyFlag = (string?)null;

        for (var i = 0; i < args.Count; i++)
        {
            // Accept both "--flag value" and "--flag=value".
            var (flag, value) = args[i].Split('=', 2) is [var name, var inline] ? (name, inline) : (args[i], null);
            if (flag is "--help" or "-h" or "-?")
                return new SampleSettings { ShowHelp = true };
            if (!flag.StartsWith("--", StringComparison.Ordinal))
                throw new UsageException($"unexpected argument '{args[i]}'.");

            value ??= i + 1 < args.Count ? args[++i] : throw new UsageException($"{flag} needs a value.");

            settings = flag switch
            {
                "--broker" => settings with { Broker = ParseBroker(value) },
                "--client-id" => settings with { ClientId = NotEmpty(flag, value) },
                "--topic" => settings with { Topic = ParseTopic(value) },
                "--qos" => settings with
                {
                    Qos = value switch
                    {
                        "0" => MqttQualityOfServiceLevel.AtMostOnce,
                        "1" => MqttQualityOfServiceLevel.AtLeastOnce,
                        "2" => MqttQualityOfServiceLevel.ExactlyOnce,
                        _ => throw new UsageException($"--qos must be 0, 1 or 2, not '{value}'."),
                    },
                },
                "--retain" => settings with
                {
                    Retain = bool.TryParse(value, out var retain)
                        ? retain
                        : throw new UsageException($"--retain must be true or false, not '{value}'."),
                },
                "--interval-ms" => settings with { Interval = TimeSpan.FromMilliseconds(ParseInt(flag, value, min: 0)) },
                "--count" => settings with { Count = ParseInt(flag, value, min: 1) },
                "--store" => settings with { StorePath = NotEmpty(flag, value) },
                "--restart-after" => settings with { RestartAfter = ParseInt(flag, value, min: 0) },
                "--outage-ms" => settings with { Outage = TimeSpan.FromMilliseconds(ParseInt(flag, value, min: 0)) },
                _ => throw new UsageException($"unknown option '{flag}'."),
            };

            if (flag is "--restart-after" or "--outage-ms")
                embeddedOnlyFlag = flag;
        }

        if (settings.Broker is not null && embeddedOnlyFlag is not null)
            throw new UsageException($"{embeddedOnlyFlag} only applies to the embedded broker; it cannot stop the broker given with --broker.");
        return settings;
    }

    private static (string Host, int Port) ParseBroker(string value)
    {
        // HOST:PORT, with IPv6 addresses in brackets: [::1]:1883.
        var colon = value.LastIndexOf(':');
        var host = colon > 0 ? value[..colon].Trim('[', ']') : "";
        if (host.Length == 0 || !int.TryParse(value[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port is < 1 or > 65_535)
            throw new UsageException($"--broker must be HOST:PORT with a port from 1 to 65535, not '{value}'.");
        return (host, port);
    }

    private static string ParseTopic(string value)
    {
        if (value.Length == 0 || value.AsSpan().IndexOfAny('+', '#', '\0') >= 0)
            throw new UsageException($"--topic must be a topic name without wildcards (+, #), not '{value}'.");
        return value;
    }

    private static int ParseInt(string flag, string value, int min)
    {
        if (!int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var number) || number < min)
            throw new UsageException($"{flag} must be a whole number of at least {min}, not '{value}'.");
        return number;
    }

    private static string NotEmpty(string flag, string value) =>
        string.IsNullOrWhiteSpace(value) ? throw new UsageException($"{flag} must not be empty.") : value;
}
