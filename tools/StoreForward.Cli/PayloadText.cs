using System.Text;

namespace StoreForward.Cli;

/// <summary>How <c>peek</c> shows a payload.</summary>
internal enum PayloadDisplay
{
    /// <summary>Text when the payload is printable UTF-8, hex otherwise.</summary>
    Auto,

    /// <summary>Always as UTF-8 text (invalid bytes show as U+FFFD).</summary>
    Text,

    /// <summary>Always as hex bytes.</summary>
    Hex,
}

/// <summary>Payloads as text or hex, cut to a width for tables.</summary>
internal static class PayloadText
{
    private static readonly UTF8Encoding Strict = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>The payload as text when it is valid UTF-8 without control characters (tabs and line breaks allowed).</summary>
    public static string? AsPrintableText(ReadOnlySpan<byte> payload)
    {
        string text;
        try
        {
            text = Strict.GetString(payload);
        }
        catch (DecoderFallbackException)
        {
            return null;
        }

        return text.Any(c => char.IsControl(c) && c is not ('\t' or '\r' or '\n')) ? null : text;
    }

    public static string Render(ReadOnlySpan<byte> payload, PayloadDisplay display, int width)
    {
        if (payload.IsEmpty)
            return "(empty)";
        var shown = display switch
        {
            PayloadDisplay.Text => Encoding.UTF8.GetString(payload),
            PayloadDisplay.Hex => Convert.ToHexString(payload[..Math.Min(payload.Length, (width / 2) + 1)]),
            _ => AsPrintableText(payload) ?? Convert.ToHexString(payload[..Math.Min(payload.Length, (width / 2) + 1)]),
        };
        shown = shown.ReplaceLineEndings("⏎");
        return shown.Length > width ? string.Concat(shown.AsSpan(0, Math.Max(0, width - 1)), "…") : shown;
    }
}
