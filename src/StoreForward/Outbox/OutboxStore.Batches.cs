using LiteDB;

namespace StoreForward.Outbox;

// Batches: every change happens in one, which commits with one fsync of the log or is undone.
internal sealed partial class OutboxStore
{
    public void BeginBatch()
    {
        if (_broken is not null)
            throw Problem(OutboxStoreProblem.WriteFailed, $"the store could not be reopened after a failed commit and takes no more work; start the publisher again ({_broken.Message}).", _broken);
        _staged = _committed;
        _dirty = false;
        _headChanged = false;
        _appending = null;
        _appendingCoalesced = false;
        if (!_db.BeginTrans())
            throw new InvalidOperationException("An outbox transaction is already open on this thread.");
    }

    /// <summary>Commits the batch and fsyncs the log; returns whether anything was written.</summary>
    public bool CommitBatch()
    {
        if (!_dirty)
        {
            _db.Rollback();
            return false;
        }

        InsertAppending();
        _meta.Upsert(MetaDocument.Write(_staged, _released, _removed, _attempts, _keyBinding));
        if (_headChanged)
            RefreshHead();

        _committing = true;
        _db.Commit();

        // The commit wrote its pages to the log with plain writes; this is the one fsync that makes them durable.
        _log.Flush();
        _committing = false;
        var before = _committed;
        _committed = _staged;
        _released.Commit();
        _removed.Commit();
        if (_attemptsChanged)
            _committedAttempts = new(_attempts);
        _attemptsChanged = false;
        _dirty = false;
        if (_setAside.Count > 0)
        {
            _setAsideCommitted.AddRange(_setAside);
            _setAside.Clear();
        }

        PublishSnapshot();
        AssertInvariants(before);
        CheckpointWhenDue();
        return true;
    }

    /// <summary>
    /// Undoes a failed batch and says whether its outcome is known: nothing of it stored. When the failure came after the
    /// commit had started, the store reopens the database to continue from what is on disk, and looks: a batch whose
    /// counters did not reach the disk is known to be absent (LiteDB writes them in the same transaction); one whose did
    /// reached the log, but its fsync may have failed, so it may or may not survive a power cut: unknown.
    /// </summary>
    public bool RollbackBatch()
    {
        _dirty = false;
        _unreadable.Clear();
        _setAside.Clear();
        _headChanged = false;
        _appending = null;
        _appendingCoalesced = false;
        ForgetCachedSegments();
        if (!_committing)
        {
            try
            {
                _db.Rollback();
                _staged = _committed;
                _released.Undo();
                _removed.Undo();
                UndoAttempts();
                return true;
            }
            catch (Exception e) when (e is LiteException or IOException)
            {
                // LiteDB could not undo its own transaction; start over from the disk as after a failed commit.
            }
        }

        _committing = false;
        var before = _committed;
        var attempted = _staged;
        Reopen();
        return _broken is null && !_committed.SameHeaderAs(attempted) && _committed.SameHeaderAs(before);
    }

    /// <summary>
    /// Copies the log into the data file once it passed LiteDB's usual checkpoint size, after the commit is durable. A
    /// checkpoint fsyncs the data file (through <see cref="DurableFileStream"/>) before it truncates the log. If it fails
    /// (a full disk cannot grow the data file) the log simply keeps everything and the store tries again later.
    /// </summary>
    private void CheckpointWhenDue()
    {
        if (_log.Length < _checkpointAt)
            return;
        try
        {
            _db.Checkpoint();
            _checkpointAt = CheckpointLogBytes;
        }
        catch (Exception e) when (e is IOException or LiteException or UnauthorizedAccessException)
        {
            _checkpointAt = _log.Length + CheckpointLogBytes;
            Reopen();
        }
    }

    /// <summary>Starts LiteDB again over the same files: its recovery keeps exactly the commits that reached the log.</summary>
    private void Reopen()
    {
        AbandonedLiteDatabase.Drop(_db);
        try
        {
            Attach();
            Load();
        }
#pragma warning disable CA1031 // Recorded and reported by every later batch.
        catch (Exception e)
#pragma warning restore CA1031
        {
            _broken = e;
        }
    }
}
