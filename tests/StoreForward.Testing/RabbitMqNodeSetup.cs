using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace StoreForward.Tests.Infrastructure;

/// <summary>
/// What a <see cref="RabbitMqNode"/> runs with, apart from the system's node: the files of its data directory (an empty
/// rabbitmq-env.conf, the enabled plugins, rabbitmq.conf, the Erlang cookie under its HOME) and the environment of its
/// server script and of its rabbitmqctl calls, which points into that directory.
/// </summary>
internal static class RabbitMqNodeSetup
{
    /// <summary>Applies <paramref name="environment"/> on top of ours, minus anything RabbitMQ/Erlang-specific we inherited.</summary>
    internal static void ApplyEnvironment(ProcessStartInfo psi, IReadOnlyDictionary<string, string> environment)
    {
        foreach (var key in psi.Environment.Keys.ToList())
        {
            if (key.StartsWith("RABBITMQ_", StringComparison.Ordinal)
                || key.StartsWith("ERL_", StringComparison.Ordinal)
                || key is "NOTIFY_SOCKET" or "ERL_FLAGS" or "ERL_AFLAGS" or "ERL_ZFLAGS")
            {
                psi.Environment.Remove(key);
            }
        }

        foreach (var (key, value) in environment)
        {
            psi.Environment[key] = value;
        }
    }

    /// <summary>
    /// The environment of the server script and of rabbitmqctl. Paths to the config and the plugins file point into
    /// the data directory; an empty rabbitmq-env.conf replaces /etc/rabbitmq/rabbitmq-env.conf.
    /// </summary>
    internal static Dictionary<string, string> Environment(RabbitMqNode node) => new()
    {
        ["HOME"] = node.HomeDirectory,
        ["LANG"] = "C.UTF-8",
        ["LC_ALL"] = "C.UTF-8",
        ["RABBITMQ_NODENAME"] = node.NodeName,
        ["RABBITMQ_CONF_ENV_FILE"] = Path.Combine(node.DataDirectory, "rabbitmq-env.conf"),

        // Without the extension: the scripts add .conf themselves.
        ["RABBITMQ_CONFIG_FILE"] = Path.Combine(node.DataDirectory, "rabbitmq"),
        ["RABBITMQ_ADVANCED_CONFIG_FILE"] = Path.Combine(node.DataDirectory, "advanced.config"),
        ["RABBITMQ_ENABLED_PLUGINS_FILE"] = Path.Combine(node.DataDirectory, "enabled_plugins"),
        ["RABBITMQ_MNESIA_BASE"] = Path.Combine(node.DataDirectory, "mnesia"),
        ["RABBITMQ_LOG_BASE"] = Path.Combine(node.DataDirectory, "log"),
        ["RABBITMQ_PID_FILE"] = Path.Combine(node.DataDirectory, "rabbitmq.pid"),
        ["RABBITMQ_DIST_PORT"] = node.DistributionPort.ToString(CultureInfo.InvariantCulture),

        // epmd (started by the first VM that needs it, then left running as a daemon) listens on loopback only.
        ["ERL_EPMD_ADDRESS"] = "127.0.0.1",

        // rabbitmqctl: distribution listener on loopback, any free port (0/0) instead of 35672-35682 on 0.0.0.0.
        ["RABBITMQ_CTL_ERL_ARGS"] = "-kernel inet_dist_use_interface {127,0,0,1}",
        ["RABBITMQ_CTL_DIST_PORT_MIN"] = "0",
        ["RABBITMQ_CTL_DIST_PORT_MAX"] = "0",
    };

    /// <summary>Creates the node's directories and the files that do not depend on its ports.</summary>
    internal static async Task PrepareDirectoryAsync(RabbitMqNode node)
    {
        Directory.CreateDirectory(node.HomeDirectory);
        Directory.CreateDirectory(Path.Combine(node.DataDirectory, "log"));
        await File.WriteAllTextAsync(Path.Combine(node.DataDirectory, "rabbitmq-env.conf"), "").ConfigureAwait(false);

        // Only the MQTT plugin: no management (no HTTP listener), no Prometheus.
        await File.WriteAllTextAsync(Path.Combine(node.DataDirectory, "enabled_plugins"), "[rabbitmq_mqtt].\n").ConfigureAwait(false);

        // Erlang refuses a cookie file that others can read.
        var cookieFile = Path.Combine(node.HomeDirectory, ".erlang.cookie");
        await File.WriteAllTextAsync(cookieFile, node.ErlangCookie).ConfigureAwait(false);
        File.SetUnixFileMode(cookieFile, UnixFileMode.UserRead);
    }

    /// <summary>Writes rabbitmq.conf for the node's current ports (rewritten whenever the first start picks new ones).</summary>
    internal static Task WriteConfigAsync(RabbitMqNode node) =>
        File.WriteAllTextAsync(Path.Combine(node.DataDirectory, "rabbitmq.conf"), BuildConfig(node));

    private static string BuildConfig(RabbitMqNode node)
    {
        var inv = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.Append(inv, $"listeners.tcp.1 = 127.0.0.1:{node.AmqpPort}\n");
        sb.Append(inv, $"mqtt.listeners.tcp.1 = 127.0.0.1:{node.MqttPort}\n");
        sb.Append("mqtt.allow_anonymous = true\n");
        sb.Append("distribution.listener.interface = 127.0.0.1\n");

        // A small test disk must not raise the disk alarm (default limit 50 MB), which silently blocks publishers.
        sb.Append("disk_free_limit.absolute = 1MB\n");
        sb.Append("log.file.level = info\n");
        return sb.ToString();
    }
}
