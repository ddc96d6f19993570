namespace StoreForward.Outbox;

/// <summary>
/// Which tenants a shared store file holds, by ClientId: read from the headers once, when the first publisher joins, and
/// kept up to date as publishers join, so that a thousand joins read the headers once, not a thousand times. A new
/// tenant is recorded here when it is given out, before its header is written with its first commit, so that no other
/// publisher gets its number. It also keeps how many messages each outbox held when it was last known (read from its
/// header, or as its publisher left), for the warning a publisher whose ClientId is new gets about the others.
/// </summary>
internal sealed class TenantIndex
{
    // Every tenant of the file (found, claimed or given out), with its ClientId and its messages when last known; and the
    // ClientIds as an index, so that a thousand joins do not search them.
    private readonly Dictionary<int, (string? ClientId, long Pending)> _tenants = [];
    private readonly Dictionary<string, Tenant> _byClientId = new(StringComparer.Ordinal);

    private TenantIndex()
    {
    }

    public static TenantIndex Of(IEnumerable<(Tenant Tenant, string? ClientId, long Pending)> headers)
    {
        var index = new TenantIndex();
        foreach (var (tenant, clientId, pending) in headers)
            index.Set(tenant, clientId, pending);
        return index;
    }

    /// <summary>How many tenants the file holds.</summary>
    public int Count => _tenants.Count;

    /// <summary>The number a new tenant gets.</summary>
    public int Next { get; private set; }

    /// <summary>Whether the first tenant's header names no ClientId (a store from before sharing, or made by a tool).</summary>
    public bool FirstUnclaimed => _tenants.TryGetValue(Tenant.First.Number, out var first) && first.ClientId is null;

    /// <summary>The file's only tenant, or null when it holds several.</summary>
    public Tenant? Sole => _tenants.Count == 1 ? new Tenant(_tenants.Keys.First()) : null;

    /// <summary>The ClientIds of the file, in tenant order.</summary>
    public IEnumerable<string> ClientIds => _tenants.OrderBy(t => t.Key).Select(t => t.Value.ClientId).OfType<string>();

    /// <summary>The outboxes that are not open (<paramref name="isOpen"/>) and held messages when last known, by ClientId.</summary>
    public Dictionary<string, long> PendingOutside(Func<int, bool> isOpen) =>
        _tenants.Where(t => t.Value.Pending > 0 && !isOpen(t.Key))
            .ToDictionary(t => t.Value.ClientId ?? "(none recorded)", t => t.Value.Pending);

    /// <summary>Records how many messages <paramref name="tenant"/>'s outbox holds as its publisher leaves.</summary>
    public void Left(Tenant tenant, string? clientId, long pending) => Set(tenant, clientId, pending);

    public Tenant? Find(string clientId) => _byClientId.TryGetValue(clientId, out var tenant) ? tenant : null;

    /// <summary>Records that <paramref name="tenant"/> is taken, by <paramref name="clientId"/> when one claimed it: found, claimed or new.</summary>
    public void Record(Tenant tenant, string? clientId)
    {
        var known = _tenants.GetValueOrDefault(tenant.Number);
        Set(tenant, clientId ?? known.ClientId, known.Pending);
    }

    private void Set(Tenant tenant, string? clientId, long pending)
    {
        _tenants[tenant.Number] = (clientId, pending);
        if (clientId is not null)
            _byClientId[clientId] = tenant;
        Next = Math.Max(Next, tenant.Number + 1);
    }
}
