using System.ComponentModel;
using Spectre.Console.Cli;

namespace StoreForward.Cli;

/// <summary>What every verb takes: the store file, its key, whose outbox in a shared file, whether its directory may be world-writable, and whether to answer in JSON.</summary>
internal class StoreSettings : CommandSettings
{
    [CommandArgument(0, "<PATH>")]
    [Description("The store file (StoreForwardOptions.StorePath). No publisher may have it open.")]
    public string Path { get; set; } = "";

    [CommandOption("--key-file <FILE>")]
    [Description("The encryption key of an encrypted store (StoreForwardOptions.EncryptionKey): a file with the 32 bytes, or with them in base64. Or set STOREFORWARD_ENCRYPTION_KEY to the base64 key.")]
    public string? KeyFile { get; set; }

    [CommandOption("--allow-world-writable-directory")]
    [Description("Accepts a store directory every user can write to, as the app does with StoreForwardOptions.AllowWorldWritableStoreDirectory (a container volume).")]
    public bool AllowWorldWritableDirectory { get; set; }

    [CommandOption("--client-id <ID>")]
    [Description("In a store that several publishers of one process share (one StorePath, each its own ClientId): whose outbox to open. storeforward clients lists them.")]
    public string? ClientId { get; set; }

    [CommandOption("--json")]
    [Description("Writes the result as JSON on standard output, for scripts, instead of tables.")]
    public bool Json { get; set; }
}
