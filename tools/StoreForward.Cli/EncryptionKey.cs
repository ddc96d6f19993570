namespace StoreForward.Cli;

/// <summary>
/// The key of an encrypted store, from <c>--key-file</c> or the <c>STOREFORWARD_ENCRYPTION_KEY</c> environment variable;
/// never from the command line itself, where it would end up in the shell's history and the process list.
/// </summary>
internal static class EncryptionKey
{
    public const string Variable = "STOREFORWARD_ENCRYPTION_KEY";
    private const int Size = 32;

    /// <summary>
    /// The key, or null when none is given; throws <see cref="IOException"/> naming the file when it cannot be read, and
    /// <see cref="FormatException"/> naming the source when it does not hold 32 bytes.
    /// </summary>
    public static byte[]? Read(string? keyFile)
    {
        if (keyFile is not null)
        {
            byte[] bytes;
            try
            {
                bytes = File.ReadAllBytes(keyFile);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new IOException($"--key-file '{Path.GetFullPath(keyFile)}' cannot be read ({e.Message}).", e);
            }

            if (bytes.Length == Size)
                return bytes;
            return Decode(System.Text.Encoding.ASCII.GetString(bytes).Trim(), $"--key-file '{keyFile}'");
        }

        return System.Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } base64 ? Decode(base64.Trim(), Variable) : null;
    }

    private static byte[] Decode(string base64, string source)
    {
        var key = new byte[Size];
        return Convert.TryFromBase64String(base64, key, out var written) && written == Size
            ? key
            : throw new FormatException($"{source} must hold a {Size}-byte key, raw or in base64.");
    }
}
