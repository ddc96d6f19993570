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
    private readonly Dictionary<string, Tenant> _byClientId = new(StringComparer.Ordinal);
    private readonly HashSet<int> _numbers = [];
    private readonly Dictionary<int, (string? ClientId, long Pending)> _pending = [];

    private TenantIndex()
    {
    }

    public static TenantIndex Of(IEnumerable<(Tenant Tenant, string? ClientId, long Pending)> headers)
    {
        var index = new TenantIndex();
        foreach (var (tenant, clientId, pending) in headers)
        {
            index._numbers.Add(tenant.Number);
            index._pending[tenant.Number] = (clientId, pending);
            index.Next = Math.Max(index.Next, tenant.Number + 1);
            if (clientId is not null)
                index._byClientId[clientId] = tenant;
        }

        return index;
    }

    /// <summary>How many tenants the file holds.</summary>
    public int Count => _numbers.Count;

    /// <summary>The number a new tenant gets.</summary>
    public int Next { get; private set; }

    /// <summary>Whether the first tenant's header names no ClientId (a store from before sharing, or made by a tool).</summary>
    public bool FirstUnclaimed => _numbers.Contains(Tenant.First.Number) && !_byClientId.ContainsValue(Tenant.First);

    /// <summary>The file's only tenant, or null when it holds several.</summary>
    public Tenant? Sole => _numbers.Count == 1 ? new Tenant(_numbers.First()) : null;

    /// <summary>The ClientIds of the file, in tenant order.</summary>
    public IEnumerable<string> ClientIds => _byClientId.OrderBy(c => c.Value.Number).Select(c => c.Key);

    /// <summary>The outboxes other than those in <paramref name="open"/> that held messages when last known, by ClientId.</summary>
    public Dictionary<string, long> PendingOutside(IReadOnlySet<int> open) =>
        _pending.Where(p => p.Value.Pending > 0 && !open.Contains(p.Key))
            .ToDictionary(p => p.Value.ClientId ?? "(none recorded)", p => p.Value.Pending);

    /// <summary>Records how many messages <paramref name="tenant"/>'s outbox holds as its publisher leaves.</summary>
    public void Left(Tenant tenant, string? clientId, long pending) => _pending[tenant.Number] = (clientId, pending);

    public Tenant? Find(string clientId) => _byClientId.TryGetValue(clientId, out var tenant) ? tenant : null;

    /// <summary>Records that <paramref name="tenant"/> is taken, by <paramref name="clientId"/> when one claimed it: found, claimed or new.</summary>
    public void Record(Tenant tenant, string? clientId)
    {
        if (clientId is not null)
            _byClientId[clientId] = tenant;
        _numbers.Add(tenant.Number);
        Next = Math.Max(Next, tenant.Number + 1);
    }
}
