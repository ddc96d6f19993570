using System.Text;
using FsCheck;
using FsCheck.Fluent;

namespace StoreForward.Tests.Fuzzing;

/// <summary>
/// Generators that aim at the edges of MQTT's rules: wildcards, U+0000, paired and unpaired surrogates, empty strings,
/// strings around the 65,535-byte limit, and payloads around the size limit, mixed with ordinary values.
/// </summary>
internal static class FuzzGen
{
    private static readonly UTF8Encoding StrictUtf8 = new(false, true);

    public static Gen<string> Text { get; } = Gen.Frequency(
        (6, ArbMap.Default.GeneratorFor<string>().Where(s => s is not null)),
        (3, Gen.Elements("sf/data", "a/+/b", "#", "a/#", "x\0y", "\uD800", "a\uDC00b", "ok\uD83D\uDE00/temp", "", "/", "//", "$SYS/x", " ")),
        (1, Gen.Choose(21_840, 21_850).Select(n => new string('€', n)))); // 3 UTF-8 bytes each: around 65,535

    public static Gen<string?> OptionalText { get; } = Gen.Frequency((1, Gen.Constant<string?>(null)), (1, Text.Select(t => (string?)t)));

    public static Gen<byte[]> Bytes(int ordinary, int large) =>
        Gen.Frequency((8, Gen.Choose(0, ordinary)), (1, Gen.Choose(large - 8, large + 8)))
            .SelectMany(n => Gen.ArrayOf(ArbMap.Default.GeneratorFor<byte>(), n));

    /// <summary>MQTT's UTF-8 string (1.5.4): well-formed, no U+0000, at most 65,535 bytes.</summary>
    public static bool IsMqttString(string text)
    {
        if (text.Contains('\0', StringComparison.Ordinal))
            return false;
        try
        {
            return StrictUtf8.GetByteCount(text) <= 65_535;
        }
        catch (EncoderFallbackException)
        {
            return false;
        }
    }

    /// <summary>The same for a value given as bytes.</summary>
    public static bool IsMqttString(byte[] utf8)
    {
        try
        {
            return utf8.Length <= 65_535 && !StrictUtf8.GetString(utf8).Contains('\0', StringComparison.Ordinal);
        }
        catch (DecoderFallbackException)
        {
            return false;
        }
    }

    /// <summary>A topic a publish may carry (4.7): a non-empty MQTT string without wildcards.</summary>
    public static bool IsTopicName(string topic) => topic.Length > 0 && !topic.Any(c => c is '+' or '#') && IsMqttString(topic);
}
