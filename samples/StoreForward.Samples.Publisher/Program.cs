// StoreForward sample: the classic sensor loop.
//
// Every reading is written durably to a local outbox (PublishAsync returns once it is fsync'd) and delivered to the
// broker in the background over a persistent session. Without --broker the sample hosts its own MQTTnet broker and
// stops it for a few seconds partway through: the readings queue up in the outbox meanwhile and drain once it is back.
//
//   dotnet run --project samples/StoreForward.Samples.Publisher                     (embedded broker, until Ctrl+C)
//   dotnet run --project samples/StoreForward.Samples.Publisher -- --count 25 --interval-ms 100
//   dotnet run --project samples/StoreForward.Samples.Publisher -- --broker 127.0.0.1:1883

using StoreForward;
using StoreForward.Samples.Publisher;

SampleSettings settings;
try
{
    settings = SampleSettings.Parse(args);
}
catch (UsageException ex)
{
    Console.Error.WriteLine($"error: {ex.Message}");
    Console.Error.WriteLine();
    Console.Error.WriteLine(SampleSettings.Usage);
    return 2;
}

if (settings.ShowHelp)
{
    Console.WriteLine(SampleSettings.Usage);
    return 0;
}

using var stop = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true; // Let the app shut down by itself instead of being killed.
    Console.WriteLine("[app] Ctrl+C: stopping");
    stop.Cancel();
};

try
{
    return await RunAsync(settings, stop.Token);
}
catch (OutboxStoreException ex)
{
    // The store cannot be opened (bad path, held by another process, damaged) or a commit failed (disk full).
    Console.Error.WriteLine($"[app] {ex.Message}");
    return 1;
}
catch (Exception ex)
{
    Console.Error.WriteLine($"[app] unexpected failure: {ex}");
    return 1;
}

static async Task<int> RunAsync(SampleSettings settings, CancellationToken cancellationToken)
{
    // The broker: the one given with --broker, or an embedded one on a free 127.0.0.1 port.
    await using var broker = settings.Broker is null ? await EmbeddedBroker.StartAsync() : null;
    var (host, port) = settings.Broker ?? ("127.0.0.1", broker!.Port);

    // A subscriber that prints what reaches the broker, and a tally to check that every reading arrived.
    var tally = new DeliveryTally();
    var filter = settings.Topic.StartsWith("plant/", StringComparison.Ordinal) ? "plant/#" : settings.Topic;
    await using var subscriber = await SampleSubscriber.StartAsync(host, port, filter, tally, cancellationToken);

    // The publisher. StartAsync opens (or creates) the outbox and returns at once: publishing works while the broker
    // is unreachable. Messages an earlier run could not deliver are still in the store and go out first.
    var options = new StoreForwardOptions
    {
        ClientId = settings.ClientId, // static: the broker keeps the session under this name
        Host = host,
        Port = port,
        StorePath = settings.StorePath,
        ReconnectMaxDelay = TimeSpan.FromSeconds(5), // short for the demo; the default is 60 s
    };
    var publisher = await StoreForwardPublisher.StartAsync(options, cancellationToken);
    publisher.MessageDeadLettered += (_, dead) =>
        Console.WriteLine($"[dead-letter] #{dead.Sequence} {dead.Topic}: {dead.Reason} {dead.Detail}");

    var leftOver = publisher.Status.PendingMessages;
    Console.WriteLine(leftOver == 0
        ? $"[publisher] outbox {publisher.StorePath} opened; publishing to {host}:{port} as {settings.ClientId}"
        : $"[publisher] outbox {publisher.StorePath} opened with {leftOver} message(s) from an earlier run; they go out first");

    using var stopWatching = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
    var watcher = OutboxWatcher.RunAsync(publisher, stopWatching.Token);
    var outage = new BrokerOutage(broker, settings.RestartAfter, settings.Outage, settings.Topic);
    try
    {
        await PublishReadingsAsync(publisher, settings, outage, tally, cancellationToken);
        if (settings.Count is not { } count)
            return 0; // not reached: without --count the loop only ends with Ctrl+C

        // All readings are stored; wait until the broker acknowledged every one of them.
        await outage.FinishAsync(cancellationToken);
        Console.WriteLine($"[flush] waiting for the broker to acknowledge everything (pending {publisher.Status.PendingMessages})");
        using var flushTimeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        flushTimeout.CancelAfter(TimeSpan.FromSeconds(60));
        try
        {
            await publisher.FlushAsync(flushTimeout.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            var status = publisher.Status;
            Console.Error.WriteLine($"[flush] timed out after 60 s: pending {status.PendingMessages}, connected {status.IsConnected}, last error: {status.LastConnectionError ?? "none"}");
            return 1;
        }

        await stopWatching.CancelAsync(); // let the watcher report the drain before the summary
        await watcher;
        Console.WriteLine($"[flush] done: all {count} readings delivered (pending {publisher.Status.PendingMessages})");
        await tally.WaitForAllAsync(TimeSpan.FromSeconds(5), cancellationToken);
        return 0;
    }
    catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
    {
        return 0; // Ctrl+C: a clean stop
    }
    finally
    {
        await stopWatching.CancelAsync();
        await watcher;

        // Disposing does not wait for delivery: whatever the broker has not acknowledged stays in the outbox and is
        // delivered by the next run on the same store.
        await publisher.DisposeAsync();
        var pending = publisher.Status.PendingMessages;
        Console.WriteLine(pending == 0
            ? "[publisher] stopped; the outbox is empty"
            : $"[publisher] stopped; {pending} undelivered message(s) stay in {publisher.StorePath} for next time");
        Console.WriteLine($"[subscriber] received {tally.ReceivedCount} of the {tally.PublishedCount} readings published in this run");
    }
}

// The loop itself: read the sensor, store the reading, report the outbox, and let the outage script run.
static async Task PublishReadingsAsync(
    StoreForwardPublisher publisher, SampleSettings settings, BrokerOutage outage, DeliveryTally tally, CancellationToken cancellationToken)
{
    var sensor = new TemperatureSensor(TimeProvider.System);
    for (var n = 1; settings.Count is not { } count || n <= count; n++)
    {
        var reading = sensor.Read(n);
        tally.Published(n, reading);

        PublishReceipt receipt;
        try
        {
            receipt = await publisher.PublishAsync(settings.Topic, reading, settings.Qos, settings.Retain, cancellationToken);
        }
        catch (OperationCanceledException)
        {
            tally.Withdraw(n, reading); // a cancelled publish stored nothing
            throw;
        }

        var status = publisher.Status;
        Console.WriteLine($"[publish] #{n} stored as seq {receipt.Sequence} (pending {status.PendingMessages}, connected {status.IsConnected})");

        await outage.AfterPublishAsync(n, cancellationToken);
        if (n != settings.Count)
            await Task.Delay(settings.Interval, cancellationToken);
    }
}
