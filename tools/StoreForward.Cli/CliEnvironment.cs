using Spectre.Console;

namespace StoreForward.Cli;

/// <summary>
/// Where the commands write and what time it is: standard output for results (tables, or JSON that scripts read),
/// standard error for progress and errors, so that <c>--json</c> and <c>export</c> output stays clean when piped.
/// </summary>
/// <param name="Out">Results.</param>
/// <param name="Error">Progress bars and errors.</param>
/// <param name="Time">The clock for ages.</param>
internal sealed record CliEnvironment(IAnsiConsole Out, IAnsiConsole Error, TimeProvider Time)
{
    public static CliEnvironment System() =>
        new(
            AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Out) }),
            AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) }),
            TimeProvider.System);

    /// <summary>Writes a line as it is, never wrapped or marked up: for JSON that scripts read.</summary>
    public void WriteRaw(string line) => Out.Profile.Out.Writer.WriteLine(line);

    /// <summary>Reports an error on standard error and returns <paramref name="exitCode"/>.</summary>
    public int Fail(int exitCode, string message)
    {
        Error.MarkupLine($"[red]error:[/] {Markup.Escape(message)}");
        return exitCode;
    }
}
