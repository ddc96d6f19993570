// The process that the crash tests kill. It publishes "<run>/<producer>/<n>" from several concurrent producers, each
// waiting for its previous publish, and prints "ack <run> <producer> <n>" the moment PublishAsync returned: the parent
// test kills it with SIGKILL at a random moment and later checks every printed publish against what the broker
// delivered. With --drain it publishes nothing, waits until the outbox is empty and exits 0. With --presence TOPIC it
// announces its presence there (a retained online message and an offline Will), and --producers 0 makes it only stay
// connected until it is killed. With --publishers N it runs N publishers on the one store, with the ClientIds ID-0 to
// ID-(N-1), each with its producers, numbered on from the previous publisher's.
//
//   StoreForward.CrashHost --store PATH --port N --client-id ID --qos 1|2 --run R [--producers 4] [--publishers 1]
//                          [--drain] [--key BASE64] [--presence TOPIC [--will-delay SECONDS]] [--keep-alive SECONDS]
using System.Globalization;
using System.Text;
using MQTTnet.Protocol;
using StoreForward;

string Arg(string name, string? fallback = null)
{
    var at = Array.IndexOf(args, name);
    return at >= 0 && at + 1 < args.Length ? args[at + 1] : fallback ?? throw new ArgumentException($"{name} is required");
}

var publisherCount = int.Parse(Arg("--publishers", "1"), CultureInfo.InvariantCulture);
StoreForwardOptions Options(int index) => new()
{
    ClientId = publisherCount == 1 ? Arg("--client-id") : $"{Arg("--client-id")}-{index}",
    Host = "127.0.0.1",
    Port = int.Parse(Arg("--port"), CultureInfo.InvariantCulture),
    StorePath = Arg("--store"),
    ReconnectInitialDelay = TimeSpan.FromMilliseconds(100),
    ReconnectMaxDelay = TimeSpan.FromSeconds(1),
    EncryptionKey = args.Contains("--key") ? Convert.FromBase64String(Arg("--key")) : null,
    Presence = args.Contains("--presence")
        ? new PresenceOptions
        {
            Topic = Arg("--presence"),
            WillDelay = args.Contains("--will-delay") ? TimeSpan.FromSeconds(int.Parse(Arg("--will-delay"), CultureInfo.InvariantCulture)) : null,
        }
        : null,
    KeepAlive = TimeSpan.FromSeconds(int.Parse(Arg("--keep-alive", "15"), CultureInfo.InvariantCulture)),
};
var qos = (MqttQualityOfServiceLevel)int.Parse(Arg("--qos", "2"), CultureInfo.InvariantCulture);
var run = Arg("--run", "0");
var producers = int.Parse(Arg("--producers", "4"), CultureInfo.InvariantCulture);

var output = new StreamWriter(Console.OpenStandardOutput(), Encoding.ASCII) { AutoFlush = true };
var outputLock = new Lock();
var publishers = await Task.WhenAll(Enumerable.Range(0, publisherCount).Select(i => StoreForwardPublisher.StartAsync(Options(i))));
lock (outputLock)
    output.WriteLine($"started {publishers.Sum(p => p.Status.PendingMessages)}");

if (args.Contains("--drain"))
{
    await Task.WhenAll(publishers.Select(p => p.FlushAsync())).WaitAsync(TimeSpan.FromMinutes(2));
    foreach (var publisher in publishers)
        await publisher.DisposeAsync();
    lock (outputLock)
        output.WriteLine("drained");
    return 0;
}

if (producers == 0)
{
    await Task.Delay(Timeout.Infinite);
}

await Task.WhenAll(Enumerable.Range(0, producers * publisherCount).Select(producer => Task.Run(async () =>
{
    var publisher = publishers[producer / producers];
    for (var n = 0; ; n++)
    {
        var receipt = await publisher.PublishAsync("sf/crash", Encoding.ASCII.GetBytes($"{run}/{producer}/{n}"), qos);
        lock (outputLock)
            output.WriteLine($"ack {run} {producer} {n} {receipt.Sequence}");
    }
})));
return 0;
