using System.Collections;
using System.Reflection;
using LiteDB;

namespace StoreForward.Outbox;

/// <summary>
/// Lets go of a LiteDB instance whose commit failed half way. LiteDB 5.0.21 leaves that transaction "active" with pages
/// it already moved to the log; disposing it throws ("discarded page must be writable"), and so does its finalizer, later,
/// on the finalizer thread, where an exception ends the process. The transactions are therefore taken off finalization
/// before the instance is dropped. The fields read here are LiteDB 5.0.21's (the version this package pins); should they
/// be missing, the instance is kept reachable for the life of the process instead, which costs memory but never a crash.
/// </summary>
internal static class AbandonedLiteDatabase
{
    private static readonly List<LiteDatabase> KeptAlive = [];

    public static void Drop(LiteDatabase db)
    {
        if (!TrySuppressTransactionFinalizers(db))
        {
            lock (KeptAlive)
                KeptAlive.Add(db);
            return;
        }

        try
        {
            db.Dispose();
        }
#pragma warning disable CA1031 // The instance is being dropped because it failed; its last words do not matter.
        catch (Exception)
#pragma warning restore CA1031
        {
        }
    }

    private static bool TrySuppressTransactionFinalizers(LiteDatabase db)
    {
        const BindingFlags Instance = BindingFlags.Instance | BindingFlags.NonPublic | BindingFlags.Public;
        try
        {
            var engine = typeof(LiteDatabase).GetField("_engine", Instance)?.GetValue(db);
            var monitor = engine?.GetType().GetField("_monitor", Instance)?.GetValue(engine);
            if (monitor?.GetType().GetProperty("Transactions", Instance)?.GetValue(monitor) is not IEnumerable transactions)
                return false;
            foreach (var transaction in transactions.Cast<object>().ToList())
            {
#pragma warning disable CA1816 // Deliberately on LiteDB's object: its finalizer would throw on the finalizer thread.
                GC.SuppressFinalize(transaction);
#pragma warning restore CA1816
            }

            return true;
        }
        catch (Exception e) when (e is TargetInvocationException or FieldAccessException or InvalidOperationException or MemberAccessException)
        {
            return false;
        }
    }
}
