using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using StoreForward;
using StoreForward.Extensions.Hosting;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers StoreForward with a Microsoft.Extensions host.</summary>
public static class StoreForwardServiceCollectionExtensions
{
    /// <summary>
    /// Registers a <see cref="StoreForwardPublisher"/> singleton configured from <paramref name="configuration"/> (for
    /// example <c>builder.Configuration.GetSection("StoreForward")</c>, which environment variables such as
    /// <c>StoreForward__Host</c> override), and a hosted service that starts it with the host and flushes it on shutdown.
    /// The options are validated when the host starts: a bad value fails the start with a message naming it.
    /// </summary>
    /// <returns>The options builder, to configure or validate further.</returns>
    public static OptionsBuilder<StoreForwardOptions> AddStoreForward(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        services.AddOptions<StoreForwardHostingOptions>().Bind(configuration);
        return services.AddStoreForwardCore().Bind(configuration);
    }

    /// <summary>As <see cref="AddStoreForward(IServiceCollection, IConfiguration)"/>, with the options set in code.</summary>
    public static OptionsBuilder<StoreForwardOptions> AddStoreForward(this IServiceCollection services, Action<StoreForwardOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        return services.AddStoreForwardCore().Configure(configure);
    }

    private static OptionsBuilder<StoreForwardOptions> AddStoreForwardCore(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddSingleton<IValidateOptions<StoreForwardOptions>, StoreForwardOptionsValidator>();
        services.AddSingleton<StoreForwardPublisherFactory>();
        services.AddSingleton(sp => sp.GetRequiredService<StoreForwardPublisherFactory>().Get());
        services.AddHostedService<StoreForwardHostedService>();
        return services.AddOptions<StoreForwardOptions>()
            .Configure<IServiceProvider>((options, provider) => options.LoggerFactory ??= provider.GetService<Microsoft.Extensions.Logging.ILoggerFactory>())
            .ValidateOnStart();
    }
}
