using System.Globalization;
using System.Text;

namespace StoreForward.LoadTest;

/// <summary>The markdown report: printed as each section completes, and written whole at the end.</summary>
internal sealed class Report
{
    private readonly StringBuilder _text = new();

    public override string ToString() => _text.ToString();

    public void Line(string line = "")
    {
        _text.Append(line).Append('\n');
        Console.WriteLine(line);
    }

    public void Table(params string[] header)
    {
        Line("| " + string.Join(" | ", header) + " |");
        Line("|" + string.Concat(header.Select(_ => "---|")));
    }

    public void Row(params string[] cells) => Line("| " + string.Join(" | ", cells) + " |");

    public static string Rate(double perSecond) =>
        perSecond >= 10_000
            ? (perSecond / 1000).ToString("0.0", CultureInfo.InvariantCulture) + "k"
            : perSecond.ToString("#,0", CultureInfo.InvariantCulture);

    public static string RateWithRatio(double perSecond, double ratio) => $"{Rate(perSecond)} ({ratio.ToString("0.00", CultureInfo.InvariantCulture)}×)";

    public static string Ratio(double value, double reference) => (value / reference).ToString("0.00", CultureInfo.InvariantCulture) + "×";

    public static string Number(double value, string format) => value.ToString(format, CultureInfo.InvariantCulture);
}
