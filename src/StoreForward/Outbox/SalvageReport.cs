namespace StoreForward.Outbox;

/// <summary>What a salvage read from a damaged store, what it could not read and why, and what the new store resumes.</summary>
/// <param name="DamagedPath">The damaged store, never changed.</param>
/// <param name="HeaderProblem">Why the damaged store's header could not be used; null when it was read.</param>
/// <param name="Content">What the new store holds.</param>
/// <param name="Losses">What could not be read: pages, records, and messages missing from the header's count.</param>
internal sealed record SalvageReport(string DamagedPath, string? HeaderProblem, SalvagedContent Content, IReadOnlyList<SalvageLoss> Losses)
{
    /// <summary>
    /// Everything was read: the new store holds what the damaged one held, and resumes its broker session if it had one,
    /// unless a fresh one was asked for or the store was quarantined.
    /// </summary>
    public bool Complete => HeaderProblem is null && Losses.Count == 0;

    /// <summary>Neither the header nor any message or dead letter could be read: there is nothing to write.</summary>
    public bool NothingRead => HeaderProblem is not null && Content.Messages == 0 && Content.DeadLetters == 0;
}

/// <summary>What <see cref="OutboxStore.Reconcile"/> found in a salvaged copy.</summary>
/// <param name="Messages">Messages that were read.</param>
/// <param name="UnreadableMessages">Messages that are there but cannot be read, now dead letters.</param>
/// <param name="DeadLetters">Dead letters that were read.</param>
/// <param name="UnreadableDeadLetters">Dead letters that are there but cannot be read.</param>
/// <param name="CountedMessages">How many messages the damaged header counted; null when it was not read.</param>
/// <param name="CountedDeadLetters">How many dead letters the damaged header counted; null when it was not read.</param>
/// <param name="NextSequence">The salvaged store's next sequence.</param>
/// <param name="SentThrough">The salvaged store's sent mark.</param>
/// <param name="Session">What the salvaged store does about the damaged store's broker session.</param>
/// <param name="PublishedAnew">Messages at or below the sent mark that a fresh session publishes anew.</param>
/// <param name="Losses">Records that were not read, and why.</param>
internal sealed record SalvagedContent(
    long Messages,
    long UnreadableMessages,
    long DeadLetters,
    long UnreadableDeadLetters,
    long? CountedMessages,
    long? CountedDeadLetters,
    long NextSequence,
    long SentThrough,
    SalvagedSession Session,
    long PublishedAnew,
    IReadOnlyList<SalvageLoss> Losses)
{
    /// <summary>Whether the salvaged store resumes the damaged store's broker session.</summary>
    public bool SessionKept => Session == SalvagedSession.Kept;
}

/// <summary>
/// What a salvaged store does about the damaged store's broker session (see <see cref="OutboxStore.Reconcile"/>).
/// </summary>
internal enum SalvagedSession
{
    /// <summary>The damaged store's header was read and records no broker session: there is none to keep.</summary>
    None,

    /// <summary>The salvaged store resumes the damaged store's broker session, as the damaged store would have.</summary>
    Kept,

    /// <summary>
    /// The salvaged store records no session, so that the app clears the broker's session before its first one: a message
    /// the broker may hold in flight is missing or unreadable, the header that named the session was lost, or another
    /// store has used the ClientId since.
    /// </summary>
    Fresh,
}

/// <summary>Something a salvage could not read, and why.</summary>
/// <param name="What">Which record or pages: "message 57", "pages 12 to 20 of the data file".</param>
/// <param name="Why">Why it could not be read.</param>
internal sealed record SalvageLoss(string What, string Why);
