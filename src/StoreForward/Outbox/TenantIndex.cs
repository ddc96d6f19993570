namespace StoreForward.Outbox;

/// <summary>
/// Which tenants a shared store file holds, by ClientId: read from the headers once, when the first publisher joins, and
/// kept up to date as publishers join, so that a thousand joins read the headers once, not a thousand times. A new
/// tenant is recorded here when it is given out, before its header is written with its first commit, so that no other
/// publisher gets its number.
/// </summary>
internal sealed class TenantIndex
{
    private readonly Dictionary<string, Tenant> _byClientId = new(StringComparer.Ordinal);
    private readonly HashSet<int> _numbers = [];

    private TenantIndex()
    {
    }

    public static TenantIndex Of(IEnumerable<(Tenant Tenant, string? ClientId)> headers)
    {
        var index = new TenantIndex();
        foreach (var (tenant, clientId) in headers)
        {
            index._numbers.Add(tenant.Number);
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
