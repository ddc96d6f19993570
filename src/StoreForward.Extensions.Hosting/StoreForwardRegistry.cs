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
    /// Refuses to start a publisher while two registered publishers name one store file: each would take the other's
    /// messages and session state for its own. Checked before every start, as a publisher can be started by the first
    /// service that needs it, before the hosted service runs.
    /// </summary>
    public void EnsureDistinctStores(IOptionsMonitor<StoreForwardOptions> options)
    {
        var owners = new Dictionary<string, string>(PathComparer);
        foreach (var name in _names)
        {
            var path = FullPath(options.Get(name).StorePath);
            if (!owners.TryAdd(path, name))
                throw new InvalidOperationException($"Two publishers use the store '{path}', {Describe(owners[path])} and {Describe(name)}: give each publisher its own StorePath.");
        }
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
