using LiteDB;

namespace StoreForward.Outbox;

/// <summary>
/// Where one publisher's records live in a store file that several publishers of a process share: its number, and how
/// its keys are made from it. Every publisher of a file writes to the same few collections (LiteDB keeps all collection
/// names in one 8 KiB header page, so a collection per publisher would cap a file at a few hundred publishers), and the
/// keys keep them apart.
/// </summary>
/// <remarks>
/// Tenant 0 keeps the keys of a file from before sharing (a sequence, a topic, <c>outbox</c>), so such a file needs no
/// conversion. Tenant <c>n</c> puts <c>n</c> above the sequence's 48 bits, prefixes its topics with <c>#n/</c> (a
/// published topic never holds <c>#</c>) and calls its header <c>outbox/n</c>.
/// </remarks>
internal readonly record struct Tenant(int Number)
{
    /// <summary>Bits of a key that hold the sequence: 2.8e14 messages per publisher for the life of the file.</summary>
    private const int SequenceBits = 48;

    /// <summary>The most publishers one file can hold, so that every key stays a positive 64-bit number.</summary>
    public const int MaxTenants = 1 << 15;

    /// <summary>The highest sequence a tenant can use.</summary>
    public const long MaxSequence = (1L << SequenceBits) - 1;

    private const string HeaderPrefix = MetaDocument.Id + "/";

    public static Tenant First => new(0);

    /// <summary>The key of <paramref name="sequence"/>: a segment's or a dead letter's <c>_id</c>.</summary>
    public long Key(long sequence) => ((long)Number << SequenceBits) | sequence;

    /// <summary>The sequence a key of this tenant holds.</summary>
    public static long SequenceOf(long key) => key & MaxSequence;

    /// <summary>The tenant whose range holds a number key.</summary>
    public static int NumberOf(long key) => (int)(key >>> SequenceBits);

    /// <summary>The <c>_id</c> of this tenant's header in the meta collection.</summary>
    public string HeaderId => Number == 0 ? MetaDocument.Id : HeaderPrefix + Number.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>The tenant a header's <c>_id</c> names, or null when it names none.</summary>
    public static Tenant? OfHeader(BsonValue id)
    {
        if (!id.IsString)
            return null;
        var text = id.AsString;
        if (text == MetaDocument.Id)
            return First;
        return text.StartsWith(HeaderPrefix, StringComparison.Ordinal)
            && int.TryParse(text.AsSpan(HeaderPrefix.Length), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var number)
            && number is > 0 and < MaxTenants
            ? new Tenant(number)
            : null;
    }

    /// <summary>The <c>_id</c> of a coalesced topic's entry: the topic's index, prefixed for every tenant but the first.</summary>
    public string LatestId(string topicIndex) => Number == 0 ? topicIndex : $"#{Number}/{topicIndex}";

    /// <summary>Whether a coalescing entry's <c>_id</c> belongs to this tenant.</summary>
    public bool OwnsLatest(BsonValue id) =>
        id.IsString && (Number == 0 ? !id.AsString.StartsWith('#') : id.AsString.StartsWith($"#{Number}/", StringComparison.Ordinal));

    /// <summary>Whether a segment's or dead letter's <c>_id</c> belongs to this tenant: tenant 0 also keeps what has no number key.</summary>
    public bool OwnsKey(BsonValue id) => id.IsInt64 || id.IsInt32 ? NumberOf(id.AsInt64) == Number : Number == 0;
}
