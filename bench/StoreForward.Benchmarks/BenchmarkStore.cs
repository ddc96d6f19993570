using StoreForward.Outbox;

namespace StoreForward.Benchmarks;

/// <summary>A fresh store in its own temp folder for each benchmark iteration, so that no iteration inherits a backlog.</summary>
internal sealed class BenchmarkStore : IDisposable
{
    public static readonly byte[] Payload = new byte[200];

    private readonly string _folder = Path.Combine(Path.GetTempPath(), "sf-bdn-" + Guid.NewGuid().ToString("N")[..8]);

    /// <summary>The key of encrypted benchmark stores (<see cref="StoreForwardOptions.EncryptionKey"/>).</summary>
    private static readonly byte[] Key = System.Security.Cryptography.RandomNumberGenerator.GetBytes(32);

    public BenchmarkStore(bool encrypted = false)
    {
        Directory.CreateDirectory(_folder);
        Store = OutboxStore.Open(Path.Combine(_folder, "outbox.db"), encrypted ? Key : null);
    }

    public OutboxStore Store { get; }

    public void Dispose()
    {
        Store.Dispose();
        DeleteFolder();
    }

    /// <summary>For a store that a <see cref="GroupCommitWriter"/> owned and already closed.</summary>
    public void DeleteFolder() => Directory.Delete(_folder, recursive: true);
}
