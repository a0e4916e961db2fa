namespace PgReplication.Core.Operations;

/// <summary>
/// What a standby being set up has of the cluster's TLS, read before anything changes. Its postgresql.auto.conf is a
/// copy of its upstream's (pg_basebackup), so after Enable-PgReplicationSsl it names the upstream's certificate and key,
/// which are not on this host: the server would not start.
/// </summary>
public sealed record StandbyTlsFacts
{
    public required string Standby { get; init; }
    public required string Upstream { get; init; }
    /// <summary>ssl and the ssl_*_file settings in the standby's postgresql.auto.conf.</summary>
    public required IReadOnlyDictionary<string, string> Settings { get; init; }
    /// <summary>The files those settings name that the standby's host lacks.</summary>
    public required IReadOnlyList<string> MissingFiles { get; init; }
    /// <summary>The standby's host has the cluster's CA certificate (root.crt), or the caller gave one.</summary>
    public required bool HostHasRoot { get; init; }
    /// <summary>The upstream's root.crt when the upstream serves TLS and has one; null otherwise.</summary>
    public string? UpstreamRootPem { get; init; }
    /// <summary>Why the upstream's root.crt could not be read, when it serves TLS; null when it was read or is not needed.</summary>
    public string? UpstreamRootUnreadable { get; init; }
}

/// <summary>What the standby gets: the CA certificate, its own server settings, and one warning for the user.</summary>
public sealed record StandbyTlsDecision
{
    /// <summary>The CA certificate to write as the standby's root.crt; null when nothing is written.</summary>
    public string? RootToWrite { get; init; }
    /// <summary>Settings for the standby's own postgresql.auto.conf.</summary>
    public required IReadOnlyDictionary<string, string?> ServerSettings { get; init; }
    public string? Warning { get; init; }
    public bool ChangesNothing => RootToWrite is null && ServerSettings.Count == 0;
}

/// <summary>
/// A standby added after Enable-PgReplicationSsl: it verifies its upstream with the cluster's CA (root.crt is public and
/// comes from the upstream), and, having no certificate of its own (the CA key is never on the hosts), starts with ssl off
/// in its own postgresql.auto.conf until Enable-PgReplicationSsl is run with it.
/// </summary>
public static class StandbyTls
{
    /// <summary>The server settings that name files; ssl_ca_file and ssl_crl_file too, so a user's own TLS is covered.</summary>
    public static readonly IReadOnlyList<string> FileSettings = new[] { "ssl_cert_file", "ssl_key_file", "ssl_ca_file", "ssl_crl_file" };

    /// <summary>A boolean setting PostgreSQL reads as off (a prefix of false or no, of/off, 0).</summary>
    public static bool IsOff(string? value)
    {
        var v = value?.Trim().ToLowerInvariant() ?? "";
        return v.Length > 0 && (v == "0" || "false".StartsWith(v, StringComparison.Ordinal) || "no".StartsWith(v, StringComparison.Ordinal) ||
                                v.Length >= 2 && "off".StartsWith(v, StringComparison.Ordinal));
    }

    public static StandbyTlsDecision Decide(StandbyTlsFacts f)
    {
        var settings = new Dictionary<string, string?>(StringComparer.Ordinal);
        // ssl off where it was on, or came from postgresql.conf (which auto.conf's file names override): the server starts.
        var turnOff = f.MissingFiles.Count > 0 && !IsOff(f.Settings.GetValueOrDefault("ssl"));
        if (turnOff) settings["ssl"] = "off";
        var root = !f.HostHasRoot ? f.UpstreamRootPem : null;
        string? warning = null;
        if (turnOff)
            warning = $"{f.Standby}: the settings copied from {f.Upstream} turn ssl on with {string.Join(", ", f.MissingFiles)}, which {f.Standby}'s host lacks " +
                      $"(they are {f.Upstream}'s): ssl is turned off in {f.Standby}'s own postgresql.auto.conf so it starts, " +
                      (root is not null || f.HostHasRoot
                          ? $"and it verifies {f.Upstream} with the cluster's CA (sslmode=verify-full). "
                          : $"but it does not verify {f.Upstream}: {UnreadableText(f)}. ") +
                      $"Run Enable-PgReplicationSsl with every node, {f.Standby} included, to give it a certificate and turn ssl on again.";
        else if (!f.HostHasRoot && f.UpstreamRootUnreadable is not null)
            warning = $"{f.Standby}: {f.Upstream} serves TLS, but {f.Standby} does not verify {f.Upstream}: {UnreadableText(f)}. " +
                      $"Run Enable-PgReplicationSsl with every node, {f.Standby} included.";
        return new StandbyTlsDecision { RootToWrite = root, ServerSettings = settings, Warning = warning };
    }

    private static string UnreadableText(StandbyTlsFacts f) =>
        $"{f.Upstream}'s CA certificate (root.crt) could not be read ({f.UpstreamRootUnreadable ?? "it has none"})";
}
