using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;

namespace StoreForward;

/// <summary>
/// TLS to the broker (<see cref="StoreForwardOptions.Tls"/>): TLS 1.2 or 1.3, the broker's certificate checked against the
/// system's trusted roots or a given CA, its name checked against the host, and optionally a client certificate
/// (mutual TLS). Certificate and key files are read again for every connection, so renewed files are used from the next
/// reconnect on without a restart.
/// </summary>
/// <remarks>
/// A connection the checks refuse fails with a message that says which check failed and what to set; the publisher logs
/// it, keeps every message in the outbox, and retries with backoff. There is no switch that accepts any certificate: a
/// test broker gets a CA file instead.
/// </remarks>
public sealed class StoreForwardTlsOptions
{
    /// <summary>
    /// Whether the connection to <see cref="StoreForwardOptions.Host"/>, and to <see cref="StoreForwardOptions.Servers"/>
    /// entries without a scheme, uses TLS. Set <see cref="StoreForwardOptions.Port"/> too (usually 8883). <c>mqtts://</c>
    /// entries use TLS with these settings whatever this says, <c>mqtt://</c> entries never.
    /// </summary>
    public bool Enabled { get; set; }

    /// <summary>The TLS versions allowed: <see cref="SslProtocols.Tls12"/>, <see cref="SslProtocols.Tls13"/> or both (default).</summary>
    public SslProtocols Protocols { get; set; } = DefaultProtocols;

    internal const SslProtocols DefaultProtocols = SslProtocols.Tls12 | SslProtocols.Tls13;

    /// <summary>
    /// A PEM file with the certificate(s) of the CA that issued the broker's certificate. The broker's chain must end at
    /// one of them; the system's trusted roots are then not used. Null (default): the system's trusted roots.
    /// </summary>
    public string? CaFile { get; set; }

    /// <summary>The same as <see cref="CaFile"/>, given in code instead of a file. Not both.</summary>
    public X509Certificate2Collection? CaCertificates { get; set; }

    /// <summary>
    /// The name the broker's certificate must carry, also sent as SNI, for every TLS server. Null (default): the host of the
    /// server connected to.
    /// Set it when the host is an address or an alias that the certificate does not name.
    /// </summary>
    public string? TargetHost { get; set; }

    /// <summary>
    /// The client certificate for mutual TLS: a PEM file (its key in the same file or in <see cref="ClientKeyFile"/>) or a
    /// PKCS#12 (.pfx, .p12) file with its key. Null (default): no client certificate.
    /// </summary>
    public string? ClientCertificateFile { get; set; }

    /// <summary>The PEM private key of <see cref="ClientCertificateFile"/>, when it is not in that file.</summary>
    public string? ClientKeyFile { get; set; }

    /// <summary>
    /// The password of an encrypted PEM key or of a PKCS#12 file. Never logged, never part of an error message, never stored.
    /// </summary>
    public string? ClientCertificatePassword { get; set; }

    /// <summary>The same as <see cref="ClientCertificateFile"/>, given in code (with its private key). Not both.</summary>
    public X509Certificate2? ClientCertificate { get; set; }

    /// <summary>
    /// Whether the broker's certificate is checked for revocation (CRL or OCSP, online). False (default), as in
    /// Mosquitto's and OpenSSL's clients: plants often have no route to the CA's revocation service, and a failed check
    /// would stop every connection.
    /// </summary>
    public bool CheckCertificateRevocation { get; set; }

    /// <summary>
    /// Whether anything besides <see cref="Enabled"/> differs from its default, which is a mistake while no server uses TLS:
    /// every setting counts, so that a forgotten switch never means clear text.
    /// </summary>
    internal bool HasSettings =>
        CaFile is not null || CaCertificates is not null || TargetHost is not null || ClientCertificateFile is not null
        || ClientKeyFile is not null || ClientCertificatePassword is not null || ClientCertificate is not null
        || Protocols != DefaultProtocols || CheckCertificateRevocation;
}
