// A worker service that publishes a reading every second through StoreForward. Settings come from appsettings.json and
// environment variables (StoreForward__Host=broker.local, StoreForward__Port=8883, Sample__IntervalMs=200, ...). The
// host validates the StoreForward options at start and flushes the outbox on shutdown (Ctrl+C). The publisher's health
// check runs every 30 s and its changes are logged (Degraded while the broker is away, Unhealthy while the disk fails).
using Microsoft.Extensions.Diagnostics.HealthChecks;
using StoreForward.Samples.Worker;

var builder = Host.CreateApplicationBuilder(args);
builder.Services.AddStoreForward(builder.Configuration.GetSection("StoreForward"));
builder.Services.AddHealthChecks().AddStoreForward();
builder.Services.AddSingleton<IHealthCheckPublisher, HealthLogPublisher>();
builder.Services.AddHostedService<ReadingPublisher>();
await builder.Build().RunAsync();
