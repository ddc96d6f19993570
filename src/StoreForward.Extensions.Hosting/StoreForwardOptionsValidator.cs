using Microsoft.Extensions.Options;

namespace StoreForward.Extensions.Hosting;

/// <summary>
/// Validates bound options with the rules of <see cref="StoreForwardPublisher.StartAsync(StoreForwardOptions, CancellationToken)"/>,
/// so a bad value fails the host's start naming it, and naming the publisher when the host has named ones.
/// </summary>
internal sealed class StoreForwardOptionsValidator : IValidateOptions<StoreForwardOptions>
{
    public ValidateOptionsResult Validate(string? name, StoreForwardOptions options)
    {
        try
        {
            OptionsValidation.Validate(options);
            return ValidateOptionsResult.Success;
        }
        catch (ArgumentException e)
        {
            return ValidateOptionsResult.Fail(string.IsNullOrEmpty(name) ? e.Message : $"{StoreForwardRegistry.Describe(name)}: {e.Message}");
        }
    }
}
