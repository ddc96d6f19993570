namespace StoreForward.Outbox;

// Batches: every change happens in one, inside a transaction of the file that commits with one fsync of the log or is
// undone. The writer's batches share that transaction with the file's other tenants (CommitGroup); the tool's and the
// store's own (opening, salvage) are alone in theirs (BeginBatch and CommitBatch).
internal sealed partial class OutboxStore
{
    /// <summary>Begins a transaction of the file and a batch of this store in it.</summary>
    public void BeginBatch()
    {
        _file.Begin();
        BeginStaging();
    }

    /// <summary>Begins this store's batch inside the file's open transaction.</summary>
    internal void BeginStaging()
    {
        _staged = _committed;
        _dirty = _headerPending;
        _headChanged = false;
        _appending = null;
        _appendingCoalesced = false;
    }

    /// <summary>Commits a batch begun with <see cref="BeginBatch"/> and fsyncs the log; returns whether anything was written.</summary>
    public bool CommitBatch()
    {
        if (!_file.Commit(StageCommit()))
            return false;
        CommitStaged();
        _file.CheckpointWhenDue();
        return true;
    }

    /// <summary>Whether the open batch changed anything.</summary>
    internal bool HasStagedChanges => _dirty;

    /// <summary>
    /// Writes what the batch keeps in memory until the commit (the segment being appended to, the header) into the
    /// transaction; returns whether the batch changed anything.
    /// </summary>
    internal bool StageCommit()
    {
        if (!_dirty)
            return false;
        InsertAppending();
        _file.Meta.Upsert(MetaDocument.Write(Tenant, ClientId, _staged, _released, _removed, _attempts, _keyBinding));
        if (_headChanged)
            RefreshHead();
        return true;
    }

    /// <summary>After the transaction is durable: the batch becomes the committed state. Returns whether it changed anything.</summary>
    internal bool CommitStaged()
    {
        if (!_dirty)
            return false;
        var before = _committed;
        _committed = _staged;
        _released.Commit();
        _removed.Commit();
        if (_attemptsChanged)
            _committedAttempts = new(_attempts);
        _attemptsChanged = false;
        _dirty = false;
        _headerPending = false;
        if (_setAside.Count > 0)
        {
            _setAsideCommitted.AddRange(_setAside);
            _setAside.Clear();
        }

        PublishSnapshot();
        AssertInvariants(before);
        return true;
    }

    /// <summary>Undoes a failed batch begun with <see cref="BeginBatch"/>; see <see cref="StoreFile.Rollback"/>.</summary>
    public bool RollbackBatch() => _file.Rollback([this]);

    /// <summary>Forgets what the failed batch kept in memory.</summary>
    internal void ForgetBatch()
    {
        _unreadable.Clear();
        _setAside.Clear();
        _headChanged = false;
        _appending = null;
        _appendingCoalesced = false;
        ForgetCachedSegments();
    }

    /// <summary>The transaction was rolled back, nothing of it stored: back to the committed state.</summary>
    internal void UndoStaged()
    {
        _dirty = false;
        _staged = _committed;
        _released.Undo();
        _removed.Undo();
        UndoAttempts();
    }

    /// <summary>
    /// Before the file reopens after a commit whose outcome is unknown: a check, to run after the reopen, of whether this
    /// store's batch is known to be absent (its counters did not reach the disk, and the committed ones did).
    /// </summary>
    internal Func<bool> Attempt()
    {
        _dirty = false;
        var before = _committed;
        var attempted = _staged;

        // A new outbox's header rides on its first commit: if it is still not on disk, nothing of that commit is.
        var headerPending = _headerPending;
        return () => (headerPending && _headerPending) || (!_committed.SameHeaderAs(attempted) && _committed.SameHeaderAs(before));
    }
}
