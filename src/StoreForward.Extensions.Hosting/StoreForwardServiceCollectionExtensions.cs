using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
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
    /// The options are validated when the host starts: a bad value fails the start with a message naming it. An
    /// <see cref="IMqttCredentialsProvider"/> registered in the container supplies the credentials when the options give
    /// none (no Username, Password or CredentialsProvider).
    /// </summary>
    /// <returns>The options builder, to configure or validate further.</returns>
    public static OptionsBuilder<StoreForwardOptions> AddStoreForward(this IServiceCollection services, IConfiguration configuration) =>
        services.AddStoreForward(Options.Options.DefaultName, configuration);

    /// <summary>As <see cref="AddStoreForward(IServiceCollection, IConfiguration)"/>, with the options set in code.</summary>
    public static OptionsBuilder<StoreForwardOptions> AddStoreForward(this IServiceCollection services, Action<StoreForwardOptions> configure) =>
        services.AddStoreForward(Options.Options.DefaultName, configure);

    /// <summary>
    /// Registers one of several publishers of the host, keyed by <paramref name="name"/>: inject it with
    /// <c>[FromKeyedServices("plant")] StoreForwardPublisher</c> or resolve it with
    /// <c>GetRequiredKeyedService&lt;StoreForwardPublisher&gt;("plant")</c>. Its <see cref="StoreForwardOptions"/> and
    /// <see cref="StoreForwardHostingOptions"/> are the options named <paramref name="name"/>, bound from
    /// <paramref name="configuration"/> (for example <c>builder.Configuration.GetSection("StoreForward:Plant")</c>). The
    /// host starts it, validates its options (a failure names the publisher and the option) and flushes it on shutdown,
    /// every publisher concurrently within its own <see cref="StoreForwardHostingOptions.ShutdownFlushTimeout"/>.
    /// Publishers may share a <see cref="StoreForwardOptions.StorePath"/>, each with its own ClientId, and then share its
    /// commits; two with one ClientId on one store fail the start. When its options give no credentials,
    /// an <see cref="IMqttCredentialsProvider"/> registered keyed by <paramref name="name"/> supplies them, else an unkeyed
    /// one.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="name">The publisher's name, once per host; <see cref="Options.Options.DefaultName"/> (empty) is the unnamed publisher.</param>
    /// <param name="configuration">The configuration section of this publisher.</param>
    /// <returns>The builder of the named options, to configure or validate further.</returns>
    /// <exception cref="InvalidOperationException">A publisher of this name is registered already.</exception>
    public static OptionsBuilder<StoreForwardOptions> AddStoreForward(this IServiceCollection services, string name, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var options = services.AddStoreForwardCore(name).Bind(configuration);
        services.AddOptions<StoreForwardHostingOptions>(name).Bind(configuration);
        return options;
    }

    /// <summary>
    /// As <see cref="AddStoreForward(IServiceCollection, string, IConfiguration)"/>, with the options set in code (its
    /// hosting options with <c>services.Configure&lt;StoreForwardHostingOptions&gt;(name, ...)</c>).
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="name">The publisher's name, once per host; <see cref="Options.Options.DefaultName"/> (empty) is the unnamed publisher.</param>
    /// <param name="configure">Sets this publisher's options.</param>
    /// <returns>The builder of the named options, to configure or validate further.</returns>
    /// <exception cref="InvalidOperationException">A publisher of this name is registered already.</exception>
    public static OptionsBuilder<StoreForwardOptions> AddStoreForward(this IServiceCollection services, string name, Action<StoreForwardOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        return services.AddStoreForwardCore(name).Configure(configure);
    }

    private static OptionsBuilder<StoreForwardOptions> AddStoreForwardCore(this IServiceCollection services, string name)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(name);
        // First, so that a second registration of the name fails before it changes anything.
        StoreForwardRegistry.Of(services).Add(name);
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<StoreForwardOptions>, StoreForwardOptionsValidator>());
        services.AddKeyedSingleton(name, (provider, _) => new StoreForwardPublisherFactory(
            name, provider.GetRequiredService<StoreForwardRegistry>(), provider.GetRequiredService<IOptionsMonitor<StoreForwardOptions>>()));
        if (name == Options.Options.DefaultName)
            services.AddSingleton(provider => provider.GetRequiredKeyedService<StoreForwardPublisherFactory>(name).Get());
        else
            services.AddKeyedSingleton(name, (provider, _) => provider.GetRequiredKeyedService<StoreForwardPublisherFactory>(name).Get());
        services.AddHostedService<StoreForwardHostedService>();
        return services.AddOptions<StoreForwardOptions>(name)
            .Configure<IServiceProvider>((options, provider) => options.LoggerFactory ??= provider.GetService<ILoggerFactory>())

            // After every Configure, the app's included: credentials from the container serve a publisher whose options
            // name none, the provider keyed by the publisher's name first, else the unkeyed one.
            .PostConfigure<IServiceProvider>((options, provider) =>
            {
                if (options.CredentialsProvider is null && options.Username is null && options.Password is null)
                    options.CredentialsProvider = provider.GetKeyedService<IMqttCredentialsProvider>(name) ?? provider.GetService<IMqttCredentialsProvider>();
            })
            .ValidateOnStart();
    }
}
