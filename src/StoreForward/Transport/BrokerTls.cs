using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using MQTTnet;

namespace StoreForward.Transport;

/// <summary>
/// The TLS settings of one connection attempt, loaded from <see cref="StoreForwardTlsOptions"/> (files are read for every
/// attempt, so renewed certificates are picked up), applied to MQTTnet's channel, and the reason a handshake failed in
/// words an operator can act on. MQTTnet's own failure is "the remote certificate was rejected by the provided
/// RemoteCertificateValidationCallback", which says neither which check failed nor what to change.
/// </summary>
internal sealed class BrokerTls : IDisposable
{
    private const string Prefix = "StoreForwardOptions.Tls.";

    private readonly StoreForwardTlsOptions _options;
    private readonly string _endpoint;
    private readonly X509Certificate2Collection? _trust;
    private readonly X509Certificate2? _clientCertificate;

    // MQTTnet's WebSocket channel hands over .NET's verdict on the certificate, made against the system's roots and the
    // URI's host: it applies neither the CA file nor TargetHost nor the revocation setting. Over WebSockets the check is
    // therefore made here again, with the same rules as over TCP.
    private readonly bool _checksItself;

    // Why the validation callback refused the broker's certificate, for the exception that follows.
    private string? _rejection;

    // What this attempt read from files (the app's own certificate objects stay the app's to dispose).
    private X509Certificate2Collection? _ownedTrust;
    private X509Certificate2? _ownedClientCertificate;

    private BrokerTls(StoreForwardTlsOptions options, string targetHost, BrokerEndpoint endpoint, X509Certificate2Collection? trust, X509Certificate2? clientCertificate)
    {
        _options = options;
        _checksItself = endpoint.WebSocketPath is not null;
        TargetHost = targetHost;
        _endpoint = endpoint.ToString();
        _trust = trust;
        _clientCertificate = clientCertificate;
    }

    /// <summary>The name the broker's certificate must carry.</summary>
    public string TargetHost { get; }

    /// <summary>
    /// Checks the TLS settings and reads their files; throws an <see cref="ArgumentException"/> naming the problem. TLS
    /// settings that no server uses are a mistake too: the connections would be plain TCP.
    /// </summary>
    public static void Validate(StoreForwardTlsOptions tls, IReadOnlyList<BrokerEndpoint> endpoints)
    {
        if (tls.Protocols != StoreForwardTlsOptions.DefaultProtocols && endpoints.Any(e => e.UseTls && e.WebSocketPath is not null))
            throw Bad(nameof(tls.Protocols), $"is {tls.Protocols}, but wss:// servers use the TLS versions of .NET's WebSocket client (1.2 and 1.3, as the system allows): leave it at Tls12, Tls13 or use mqtts://.");
        if (endpoints.FirstOrDefault(e => e.UseTls) is { } endpoint)
            Load(tls, endpoint)?.Dispose();
        else if (tls.Enabled)
            throw Bad("Enabled", "is true, but every entry of Servers is mqtt:// or ws://, so no connection would use TLS: write the entries as host:port, mqtts://host:port or wss://host:port/path, or set Tls.Enabled = false.");
        else if (tls.HasSettings)
            throw Bad("Enabled", "is false while other TLS settings are given: set Tls.Enabled = true (or list mqtts:// servers), or remove them (the connection would be plain TCP).");
    }

    /// <summary>The settings for a connection attempt to <paramref name="endpoint"/>, or null when it is plain TCP.</summary>
    public static BrokerTls? Load(StoreForwardTlsOptions tls, BrokerEndpoint endpoint)
    {
        if (!endpoint.UseTls)
            return null;

        if (tls.Protocols == SslProtocols.None
            || (tls.Protocols & ~(SslProtocols.Tls12 | SslProtocols.Tls13)) != 0)
            throw Bad(nameof(tls.Protocols), $"must be Tls12, Tls13 or both (older versions are broken), but is {tls.Protocols}.");
        if (tls.CaFile is not null && tls.CaCertificates is not null)
            throw Bad(nameof(tls.CaFile), "and Tls.CaCertificates are both set; give one.");
        if (tls.ClientCertificateFile is not null && tls.ClientCertificate is not null)
            throw Bad(nameof(tls.ClientCertificateFile), "and Tls.ClientCertificate are both set; give one.");
        if (tls.ClientKeyFile is not null && tls.ClientCertificateFile is null)
            throw Bad(nameof(tls.ClientKeyFile), "is set without Tls.ClientCertificateFile.");
        if (tls.TargetHost is { } name && string.IsNullOrWhiteSpace(name))
            throw Bad(nameof(tls.TargetHost), "must not be empty (null: the server's host).");
        if (tls.ClientCertificate is { HasPrivateKey: false })
            throw Bad(nameof(tls.ClientCertificate), $"({tls.ClientCertificate.Subject}) has no private key.");

        if (tls.CaCertificates is { Count: 0 })
            throw Bad(nameof(tls.CaCertificates), "is empty.");
        var trust = tls.CaFile is { } caFile ? LoadCa(caFile) : null;
        try
        {
            var client = tls.ClientCertificateFile is { } certificateFile ? LoadClientCertificate(certificateFile, tls.ClientKeyFile, tls.ClientCertificatePassword) : null;
            return new BrokerTls(tls, tls.TargetHost ?? endpoint.Host, endpoint, trust ?? tls.CaCertificates, client ?? tls.ClientCertificate)
            {
                _ownedTrust = trust,
                _ownedClientCertificate = client,
            };
        }
        catch
        {
            Dispose(trust);
            throw;
        }
    }

    private static ArgumentException Bad(string name, string problem) => new($"{Prefix}{name} {problem}", Prefix + name);

    private static X509Certificate2Collection LoadCa(string path)
    {
        var certificates = new X509Certificate2Collection();
        try
        {
            certificates.ImportFromPemFile(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException)
        {
            throw Bad(nameof(StoreForwardTlsOptions.CaFile), $"'{path}' cannot be read as PEM certificates: {e.Message}");
        }

        return certificates.Count > 0 ? certificates : throw Bad(nameof(StoreForwardTlsOptions.CaFile), $"'{path}' holds no PEM certificate (-----BEGIN CERTIFICATE-----).");
    }

    private static X509Certificate2 LoadClientCertificate(string path, string? keyPath, string? password)
    {
        X509Certificate2 certificate;
        try
        {
            if (IsPem(path))
            {
                certificate = password is null
                    ? X509Certificate2.CreateFromPemFile(path, keyPath)
                    : X509Certificate2.CreateFromEncryptedPemFile(path, password, keyPath);

                // Windows' TLS cannot use a key that only lives in memory, as a PEM key does; a PKCS#12 round trip gives
                // it a key container.
                if (OperatingSystem.IsWindows())
                    certificate = X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pkcs12), null);
            }
            else
            {
                certificate = X509CertificateLoader.LoadPkcs12FromFile(path, password);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException or ArgumentException)
        {
            var files = keyPath is null ? $"'{path}'" : $"'{path}' with the key '{keyPath}'";
            throw Bad(nameof(StoreForwardTlsOptions.ClientCertificateFile), $"{files} cannot be loaded as a client certificate with its private key: {e.Message}");
        }

        return certificate.HasPrivateKey
            ? certificate
            : throw Bad(nameof(StoreForwardTlsOptions.ClientCertificateFile), $"'{path}' holds no private key; give it in the same file or in Tls.ClientKeyFile.");
    }

    private static bool IsPem(string path)
    {
        var start = new byte[4096];
        using var file = File.OpenRead(path);
        var read = file.ReadAtLeast(start, start.Length, throwOnEndOfStream: false);
        return Encoding.ASCII.GetString(start, 0, read).Contains("-----BEGIN", StringComparison.Ordinal);
    }

    /// <summary>Configures MQTTnet's channel for this attempt.</summary>
    public void Apply(MqttClientOptionsBuilder builder, DateTimeOffset now)
    {
        if (_clientCertificate is { } client && client.NotAfter < now.LocalDateTime)
            throw new AuthenticationException($"TLS with {_endpoint}: the client certificate ({client.Subject}) expired on {client.NotAfter.ToUniversalTime():u}; renew it.");

        builder.WithTlsOptions(tls =>
        {
            tls.UseTls()
                .WithSslProtocols(_options.Protocols)
                .WithTargetHost(TargetHost)
                .WithRevocationMode(_options.CheckCertificateRevocation ? X509RevocationMode.Online : X509RevocationMode.NoCheck)
                .WithIgnoreCertificateRevocationErrors(!_options.CheckCertificateRevocation)
                .WithCertificateValidationHandler(Check);
            if (_trust is not null)
                tls.WithTrustChain(_trust);
            if (_clientCertificate is not null)
                tls.WithClientCertificates([_clientCertificate]);
        });
    }

    /// <summary>Accepts exactly what TLS itself accepts (trusted chain, matching name), and keeps the reason for a refusal.</summary>
    private bool Check(MqttClientCertificateValidationEventArgs e)
    {
        var certificate = e.Certificate as X509Certificate2 ?? (e.Certificate is null ? null : X509CertificateLoader.LoadCertificate(e.Certificate.GetRawCertData()));
        if (!_checksItself || certificate is null)
        {
            if (e.SslPolicyErrors == SslPolicyErrors.None)
                return true;
            _rejection = Describe(e.SslPolicyErrors, certificate, e.Chain);
            return false;
        }

        using var chain = new X509Chain();
        var errors = CheckItself(certificate, e.Chain, chain);
        if (errors == SslPolicyErrors.None)
            return true;
        _rejection = Describe(errors, certificate, chain);
        return false;
    }

    /// <summary>The TCP connection's checks, made by hand: the chain to the CA file (or the system's roots), and the name.</summary>
    private SslPolicyErrors CheckItself(X509Certificate2 certificate, X509Chain? presented, X509Chain chain)
    {
        chain.ChainPolicy.RevocationMode = _options.CheckCertificateRevocation ? X509RevocationMode.Online : X509RevocationMode.NoCheck;
        if (_trust is not null)
        {
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.AddRange(_trust);
        }

        // The intermediates the broker sent.
        if (presented is not null)
        {
            foreach (var element in presented.ChainElements)
                chain.ChainPolicy.ExtraStore.Add(element.Certificate);
        }

        var errors = chain.Build(certificate) ? SslPolicyErrors.None : SslPolicyErrors.RemoteCertificateChainErrors;
        return certificate.MatchesHostname(TargetHost) ? errors : errors | SslPolicyErrors.RemoteCertificateNameMismatch;
    }

    private string Describe(SslPolicyErrors errors, X509Certificate2? certificate, X509Chain? chain)
    {
        if (certificate is null || errors.HasFlag(SslPolicyErrors.RemoteCertificateNotAvailable))
            return "the broker sent no certificate";
        var problems = new List<string>();
        if (errors.HasFlag(SslPolicyErrors.RemoteCertificateNameMismatch))
        {
            var names = certificate.Extensions.OfType<X509SubjectAlternativeNameExtension>()
                .SelectMany(n => n.EnumerateDnsNames().Concat(n.EnumerateIPAddresses().Select(a => a.ToString())))
                .ToList();
            problems.Add($"the broker's certificate ({certificate.Subject}) is not issued for '{TargetHost}' (it names {(names.Count == 0 ? "no host" : string.Join(", ", names))}); connect to a name it carries, or set Tls.TargetHost to one");
        }

        if (errors.HasFlag(SslPolicyErrors.RemoteCertificateChainErrors))
        {
            var statuses = chain?.ChainStatus.Select(s => s.Status).Distinct().ToList() ?? [];

            // The chain is checked against this machine's clock, which on a device without a real-time clock can be years
            // off: pointing at the CA file then would send the operator the wrong way. Name the certificate of the chain
            // whose dates fail (the broker's, or an expired CA's), with its dates.
            var outOfDate = statuses.Remove(X509ChainStatusFlags.NotTimeValid);
            if (outOfDate)
            {
                var outdated = chain!.ChainElements.FirstOrDefault(e => e.ChainElementStatus.Any(s => s.Status == X509ChainStatusFlags.NotTimeValid))?.Certificate ?? certificate;
                var whose = outdated.Thumbprint == certificate.Thumbprint ? "the broker's certificate" : "a CA certificate of its chain";
                problems.Add($"{whose} ({outdated.Subject}, valid {outdated.NotBefore.ToUniversalTime():u} to {outdated.NotAfter.ToUniversalTime():u}) is not valid at this machine's time, {DateTime.UtcNow:u}: check the clock, or renew the expired certificate");
            }

            if (statuses.Count > 0 || !outOfDate)
            {
                var what = _trust is null
                    ? "it does not lead to a root this system trusts; set Tls.CaFile to the CA that issued it"
                    : "it does not lead to a CA of Tls.CaFile";
                problems.Add($"the broker's certificate ({certificate.Subject}, issued by {certificate.Issuer}) is not trusted ({string.Join(", ", statuses)}): {what}");
            }
        }

        return string.Join("; and ", problems);
    }

    /// <summary>
    /// The error of a failed TLS connect, with what the checks found. A failure to reach the broker at all stays as it
    /// is; anything else failed in the handshake, where a broker that wants a client certificate just drops the link.
    /// </summary>
    public Exception Explain(Exception error)
    {
        if (_rejection is { } rejection)
            return new AuthenticationException($"TLS with {_endpoint}: {rejection}.", error);
        if (ReachedNoBroker(error))
            return error;
        var innermost = error;
        while (innermost.InnerException is not null)
            innermost = innermost.InnerException;
        return new AuthenticationException($"TLS with {_endpoint} failed in the handshake: {innermost.Message}.{ClientCertificateHint}", error);
    }

    private static bool ReachedNoBroker(Exception error)
    {
        for (var cause = error; cause is not null; cause = cause.InnerException)
        {
            if (cause is SocketException
                {
                    SocketErrorCode: SocketError.ConnectionRefused or SocketError.TimedOut
                        or SocketError.HostNotFound or SocketError.HostUnreachable
                        or SocketError.NetworkUnreachable or SocketError.TryAgain
                        or SocketError.NoData or SocketError.AddressNotAvailable,
                })
                return true;
        }

        return false;
    }

    public void Dispose()
    {
        Dispose(_ownedTrust);
        _ownedClientCertificate?.Dispose();
    }

    private static void Dispose(X509Certificate2Collection? certificates)
    {
        foreach (var certificate in certificates ?? [])
            certificate.Dispose();
    }

    /// <summary>
    /// A broker that requires a client certificate tells a client without one only after the handshake (TLS 1.3) or with a
    /// bare alert, so the failure reads like a dropped connection; this says what is likely missing.
    /// </summary>
    public string ClientCertificateHint =>
        _clientCertificate is null
            ? " No client certificate is set: if the broker requires one (mutual TLS), set Tls.ClientCertificateFile."
            : "";
}
