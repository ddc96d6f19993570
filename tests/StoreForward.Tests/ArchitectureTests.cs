using System.Text.RegularExpressions;
using StoreForward.Tests.Infrastructure;

namespace StoreForward.Tests;

/// <summary>
/// The map in docs/architecture.md, checked on the sources: each folder of src/StoreForward uses only the folders the map
/// lets it use, and nothing below the public API uses the root's working types (the options object, the publisher and
/// the code that reads and checks options). The root's plain vocabulary (results, exceptions, enums, option bags) is
/// free for all.
/// </summary>
[Trait("Category", "Unit")]
public sealed partial class ArchitectureTests
{
    /// <summary>Each folder and the folders it may use; the root may use all.</summary>
    private static readonly Dictionary<string, string[]> Uses = new()
    {
        ["Publishing"] = ["Transport"],
        ["Outbox"] = ["Transport"],
        ["Session"] = ["Outbox", "Transport", "Reconnect", "Diagnostics", "Subscribing"],
        ["Transport"] = [],
        ["Reconnect"] = [],
        ["Diagnostics"] = ["Outbox", "Transport"],
        ["Subscribing"] = [],
    };

    /// <summary>The root's types that only the root itself may use.</summary>
    private static readonly string[] RootOnly = ["StoreForwardPublisher", "StoreForwardOptions", "OptionsValidation", "LayerSettings"];

    private static string Source => Path.Combine(Checkout.Root, "src", "StoreForward");

    public static TheoryData<string> Folders() => [.. Uses.Keys];

    [Fact]
    public void Every_folder_of_the_library_is_on_the_map()
    {
        var folders = Directory.GetDirectories(Source).Select(Path.GetFileName).Where(f => f is not ("bin" or "obj" or "Properties"));
        Assert.Equal(Uses.Keys.Order(), folders.Order()!);
    }

    [Theory]
    [MemberData(nameof(Folders))]
    public void A_folder_uses_only_the_folders_below_it_and_none_of_the_roots_working_types(string folder)
    {
        var problems = new List<string>();
        foreach (var file in Directory.EnumerateFiles(Path.Combine(Source, folder), "*.cs"))
        {
            var code = WithoutCommentsAndStrings(File.ReadAllText(file));
            var name = $"{folder}/{Path.GetFileName(file)}";
            foreach (var used in FoldersUsed(code).Where(f => f != folder && !Uses[folder].Contains(f)))
                problems.Add($"{name} uses {used}");
            foreach (var type in RootOnly.Where(t => Regex.IsMatch(code, $@"\b{t}\b")))
                problems.Add($"{name} uses the root's {type}");
        }

        Assert.Empty(problems);
    }

    [Fact]
    public void The_check_sees_a_folder_named_through_a_using_or_a_qualified_name_but_not_in_a_comment_or_string()
    {
        var code = WithoutCommentsAndStrings("""
            using StoreForward.Outbox;
            // Session.DeliveryState in a comment
            /// <see cref="Reconnect.ReconnectPipeline"/>
            var a = "Publishing.PublishValidator";
            var b = Diagnostics.Log.For(null);
            var c = settings.Session.MaxInFlight;
            """);

        Assert.Equal(["Diagnostics", "Outbox"], FoldersUsed(code).Order());
    }

    private static IEnumerable<string> FoldersUsed(string code) =>
        FolderReference().Matches(code).Select(m => m.Groups["using"].Success ? m.Groups["using"].Value : m.Groups["qualified"].Value)
            .Where(Uses.ContainsKey).Distinct();

    private static string WithoutCommentsAndStrings(string code) => CommentOrString().Replace(code, " ");

    // A using directive, or a folder's name qualifying a type (not a member access such as settings.Session.X).
    [GeneratedRegex(@"using\s+StoreForward\.(?<using>\w+)\s*;|(?<![\w.])(?<qualified>[A-Z]\w*)\.[A-Z]")]
    private static partial Regex FolderReference();

    // Line and block comments, verbatim, raw and interpolated strings (their holes go too: good enough for this check).
    [GeneratedRegex(@"//[^\n]*|/\*.*?\*/|""""""[\s\S]*?""""""|@""(?:""""|[^""])*""|\$?""(?:\\.|[^""\\\n])*""|'(?:\\.|[^'\\])'", RegexOptions.Singleline)]
    private static partial Regex CommentOrString();
}
