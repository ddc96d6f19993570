namespace StoreForward.Session;

/// <summary>
/// How a rate per second is handed out: every <see cref="Period"/>, <see cref="Amount"/>. The finest step is 1/100 s, as
/// fine as a rate allows without rounding: 100 per second is one every 10 ms, 150 three every 20 ms, 7 seven every
/// second. Exact, because the steps always add up to the rate in a second.
/// </summary>
internal readonly record struct RateStep(TimeSpan Period, int Amount)
{
    private const int FinestStepsPerSecond = 100;

    public static RateStep Of(int perSecond)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(perSecond, 1);
        var steps = GreatestCommonDivisor(perSecond, FinestStepsPerSecond);
        return new RateStep(TimeSpan.FromTicks(TimeSpan.TicksPerSecond / steps), perSecond / steps);
    }

    private static int GreatestCommonDivisor(int a, int b) => b == 0 ? a : GreatestCommonDivisor(b, a % b);
}
