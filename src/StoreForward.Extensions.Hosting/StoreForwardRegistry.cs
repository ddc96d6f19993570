using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace StoreForward.Extensions.Hosting;

/// <summary>
/// The names of the publishers registered in one service collection (<see cref="Options.DefaultName"/> for the unnamed
/// one), in registration order: the hosted service starts and flushes each of them, and a host that needs every
/// publisher resolves each name's <see cref="StoreForwardPublisherFactory"/> (keyed by the name) from this list. The
/// list is filled while services are registered, which is why it is a registered instance rather than built by the
/// container: the container cannot enumerate keyed registrations by key.
/// </summary>
internal sealed class StoreForwardRegistry
{
    // Windows and macOS file systems ignore case by default, so two spellings there are one store.
    private static readonly StringComparer PathComparer =
        OperatingSystem.IsWindows() || OperatingSystem.IsMacOS() ? StringComparer.OrdinalIgnoreCase : StringComparer.Ordinal;

    private readonly List<string> _names = [];

    public IReadOnlyList<string> Names => _names;

    /// <summary>The registry of <paramref name="services"/>, added on the first registration.</summary>
    public static StoreForwardRegistry Of(IServiceCollection services)
    {
        if (services.FirstOrDefault(d => !d.IsKeyedService && d.ImplementationInstance is StoreForwardRegistry)?.ImplementationInstance is StoreForwardRegistry registry)
            return registry;
        registry = new StoreForwardRegistry();
        services.AddSingleton(registry);
        return registry;
    }

    /// <summary>How messages name the publisher <paramref name="name"/>.</summary>
    public static string Describe(string name) =>
        name == Options.DefaultName ? "the unnamed StoreForward publisher" : $"StoreForward publisher '{name}'";

    /// <summary>Adds <paramref name="name"/>; a second registration of one name is refused, as it would silently merge two configurations into one publisher.</summary>
    public void Add(string name)
    {
        if (_names.Contains(name, StringComparer.Ordinal))
            throw new InvalidOperationException($"AddStoreForward was called twice for {Describe(name)}: give each publisher its own name, and change a registered publisher's options through the OptionsBuilder that AddStoreForward returns.");
        _names.Add(name);
    }

    /// <summary>
    /// Refuses to start a publisher while two registered publishers name one store file with one ClientId: they would take
    /// each other's messages and session state for their own. Publishers with ClientIds of their own may share a store
    /// file (and its commits). Checked before every start, as a publisher can be started by the first service that needs
    /// it, before the hosted service runs.
    /// </summary>
    public void EnsureDistinctOutboxes(IOptionsMonitor<StoreForwardOptions> options)
    {
        var owners = new Dictionary<(string Path, string ClientId), string>(new OutboxComparer());
        foreach (var name in _names)
        {
            var publisher = options.Get(name);
            var outbox = (FullPath(publisher.StorePath), publisher.ClientId);
            if (!owners.TryAdd(outbox, name))
                throw new InvalidOperationException($"Two publishers use the store '{outbox.Item1}' with the ClientId '{outbox.ClientId}', {Describe(owners[outbox])} and {Describe(name)}: give each publisher its own ClientId (publishers may share a StorePath) or its own StorePath.");
        }
    }

    private sealed class OutboxComparer : IEqualityComparer<(string Path, string ClientId)>
    {
        public bool Equals((string Path, string ClientId) x, (string Path, string ClientId) y) =>
            PathComparer.Equals(x.Path, y.Path) && string.Equals(x.ClientId, y.ClientId, StringComparison.Ordinal);

        public int GetHashCode((string Path, string ClientId) obj) =>
            HashCode.Combine(PathComparer.GetHashCode(obj.Path), StringComparer.Ordinal.GetHashCode(obj.ClientId ?? ""));
    }

    // A path the file system would refuse is compared as written: opening it fails with the core's own message.
    private static string FullPath(string path)
    {
        try
        {
            return Path.GetFullPath(path);
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException or PathTooLongException)
        {
            return path;
        }
    }
}
