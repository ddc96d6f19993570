using LiteDB;

namespace StoreForward.Outbox;

/// <summary>
/// One tenant's view of a collection keyed by sequence (segments, dead letters) in a shared store file: it writes the
/// tenant's keys (see <see cref="Tenant"/>) and hands back documents whose <c>_id</c> is the sequence again, so the store
/// above it reads and writes sequences as if the file were its own.
/// </summary>
/// <param name="collection">The shared collection as the file has it now (a reopened file has a new one).</param>
/// <param name="tenant">Whose records these are.</param>
internal sealed class TenantRecords(Func<ILiteCollection<BsonDocument>> collection, Tenant tenant)
{
    private const string Range = "_id BETWEEN @0 AND @1";

    private BsonExpression? _range;
    private bool _rangeInUse;

    /// <summary>Inserts a record keyed by its sequence; the document keeps its sequence as <c>_id</c>.</summary>
    public void Insert(BsonDocument document) => Keyed(document, () => collection().Insert(document));

    /// <inheritdoc cref="Insert"/>
    public void Upsert(BsonDocument document) => Keyed(document, () => collection().Upsert(document));

    public BsonDocument? FindById(long sequence) => Unkeyed(collection().FindById(tenant.Key(sequence)));

    public bool Exists(long sequence)
    {
        var range = Take(sequence, sequence);
        try
        {
            return collection().Exists(range);
        }
        finally
        {
            Release(range);
        }
    }

    /// <summary>Deletes the record with this <c>_id</c> as read: a sequence, or for tenant 0 whatever a damaged file holds.</summary>
    public bool Delete(BsonValue id) => collection().Delete(id.IsNumber ? tenant.Key(id.AsInt64) : id);

    /// <summary>The records from <paramref name="sequence"/> up, in order.</summary>
    public IEnumerable<BsonDocument> From(long sequence, int limit = int.MaxValue) => Find(Math.Max(0, sequence), Tenant.MaxSequence, limit);

    /// <summary>The records up to <paramref name="sequence"/>, in order.</summary>
    public IEnumerable<BsonDocument> Through(long sequence) => Find(0, sequence, int.MaxValue);

    /// <summary>The records in a range, read lazily; the range's query is taken when the reading starts.</summary>
    private IEnumerable<BsonDocument> Find(long fromSequence, long throughSequence, int limit)
    {
        var range = Take(fromSequence, throughSequence);
        try
        {
            foreach (var document in collection().Find(range, 0, limit))
                yield return Unkeyed(document)!;
        }
        finally
        {
            Release(range);
        }
    }

    /// <summary>
    /// Every record of the tenant, in order. Tenant 0 also gets what has no number key, as the file held before it was
    /// shared (a damaged record for verify and salvage to see).
    /// </summary>
    public IEnumerable<BsonDocument> All() =>
        tenant.Number == 0
            ? collection().FindAll().Where(d => tenant.OwnsKey(d["_id"]))
            : Unkeyed(collection().Find(Between(0, Tenant.MaxSequence)));

    public int Count() => collection().Count(Between(0, Tenant.MaxSequence));

    /// <summary>Deletes every record of the tenant (tools' "purge all": rare, so read once for the keys); returns how many.</summary>
    public int DeleteAll() => All().Select(d => d["_id"]).ToList().Count(Delete);

    /// <summary>
    /// A range of keys as a query with the bounds as parameters: LiteDB compiles every distinct text once and caches it
    /// for the life of the process, so a bound written into the text would cost about 1 ms and 3 KB per read, never freed.
    /// </summary>
    private BsonExpression Between(long fromSequence, long throughSequence) =>
        BsonExpression.Create(Range, tenant.Key(fromSequence), tenant.Key(Math.Min(throughSequence, Tenant.MaxSequence)));

    /// <summary>
    /// The range query with these bounds: the one this view keeps, with its parameters set, unless a read that has not
    /// finished holds it; then a new one. LiteDB parses an expression's text on every <c>Create</c> (a tokenizer and a
    /// LINQ tree, about a tenth of what a thousand publishers on one file allocate), so the hot reads keep theirs. Only
    /// the batch's thread reads a store, so the flag needs no lock.
    /// </summary>
    private BsonExpression Take(long fromSequence, long throughSequence)
    {
        if (_rangeInUse)
            return Between(fromSequence, throughSequence);
        _rangeInUse = true;
        _range ??= Between(0, 0);
        _range.Parameters["0"] = tenant.Key(fromSequence);
        _range.Parameters["1"] = tenant.Key(Math.Min(throughSequence, Tenant.MaxSequence));
        return _range;
    }

    private void Release(BsonExpression range)
    {
        if (ReferenceEquals(range, _range))
            _rangeInUse = false;
    }

    /// <summary>Writes <paramref name="document"/> under the tenant's key, and gives it its sequence back after.</summary>
    private void Keyed(BsonDocument document, Action write)
    {
        var sequence = document["_id"];
        if (tenant.Number != 0)
            document["_id"] = tenant.Key(sequence.AsInt64);
        try
        {
            write();
        }
        finally
        {
            document["_id"] = sequence;
        }
    }

    private BsonDocument? Unkeyed(BsonDocument? document)
    {
        if (document is not null && tenant.Number != 0)
            document["_id"] = Tenant.SequenceOf(document["_id"].AsInt64);
        return document;
    }

    private IEnumerable<BsonDocument> Unkeyed(IEnumerable<BsonDocument> documents) =>
        tenant.Number == 0 ? documents : documents.Select(d => Unkeyed(d)!);
}
