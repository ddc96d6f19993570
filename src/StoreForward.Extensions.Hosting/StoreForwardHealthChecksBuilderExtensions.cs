using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using StoreForward.Extensions.Hosting;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Adds the <see cref="StoreForwardHealthCheck"/> of a registered publisher to the host's health checks.</summary>
public static class StoreForwardHealthChecksBuilderExtensions
{
    /// <summary>
    /// Adds the health check of the publisher registered as <paramref name="name"/> (the unnamed one when null), judged
    /// by that publisher's <see cref="StoreForwardHostingOptions"/>. Each publisher has its own check, so one broker
    /// down shows on its publisher's check only.
    /// </summary>
    /// <param name="builder">The health checks builder of <c>services.AddHealthChecks()</c>.</param>
    /// <param name="name">The publisher's name as given to <c>AddStoreForward</c>; null for the unnamed publisher.</param>
    /// <param name="checkName">The check's name in reports; default <c>storeforward</c>, or <c>storeforward-</c> and the publisher's name.</param>
    /// <param name="failureStatus">The status reported while the store fails to commit; default <see cref="HealthStatus.Unhealthy"/>.</param>
    /// <param name="tags">Tags to filter checks by, for example in a health endpoint.</param>
    /// <param name="timeout">How long the check may take; default none.</param>
    /// <returns>The builder, to add more checks.</returns>
    public static IHealthChecksBuilder AddStoreForward(
        this IHealthChecksBuilder builder,
        string? name = null,
        string? checkName = null,
        HealthStatus? failureStatus = null,
        IEnumerable<string>? tags = null,
        TimeSpan? timeout = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var publisherName = name ?? Options.Options.DefaultName;
        return builder.Add(new HealthCheckRegistration(
            checkName ?? (publisherName == Options.Options.DefaultName ? "storeforward" : "storeforward-" + publisherName),
            provider => new StoreForwardHealthCheck(
                Publisher(provider, publisherName),
                Options.Options.Create(provider.GetRequiredService<IOptionsMonitor<StoreForwardHostingOptions>>().Get(publisherName))),
            failureStatus,
            tags,
            timeout));
    }

    private static StoreForward.StoreForwardPublisher Publisher(IServiceProvider provider, string name) =>
        (provider.GetKeyedService<StoreForwardPublisherFactory>(name)
         ?? throw new InvalidOperationException($"A health check watches {StoreForwardRegistry.Describe(name)}, which is not registered: add it with services.AddStoreForward."))
        .Get();
}
