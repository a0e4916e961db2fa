using System.Net;
using System.Net.Http.Headers;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace PgReplication.Core.Operations;

/// <summary>One member as Patroni's GET /cluster describes it.</summary>
public sealed record PatroniMember(string Name, string Role, string State, string? Host, int? Port, int? Timeline, long? LagBytes, bool PendingRestart)
{
    public bool IsLeader => Role is "leader" or "master" or "standby_leader";
    /// <summary>The member's nofailover tag: Patroni never promotes it (a delayed standby).</summary>
    public bool NoFailover { get; init; }
}

/// <summary>The cluster as one member's REST API sees it.</summary>
public sealed record PatroniClusterState(string Scope, IReadOnlyList<PatroniMember> Members, bool Paused)
{
    public PatroniMember? Leader => Members.FirstOrDefault(m => m.IsLeader);
}

/// <summary>
/// Patroni's REST API over HTTPS, trusting only the cluster's own CA (from the marker setting): a server certificate that
/// does not chain to it, or does not name the address asked, is refused. Changing endpoints get the REST API's password
/// in an Authorization header, never in a URL or a log.
/// </summary>
public sealed class PatroniApi : IDisposable
{
    private readonly HttpClient _http;
    private readonly string _baseUrl;

    public PatroniApi(string address, int port, byte[] caCertificateDer, NetworkCredential? credential = null, TimeSpan? timeout = null)
    {
        var ca = caCertificateDer;
        var handler = new SocketsHttpHandler
        {
            ConnectTimeout = timeout ?? TimeSpan.FromSeconds(5),
            SslOptions = new SslClientAuthenticationOptions
            {
                RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
                    certificate is X509Certificate2 c
                    && (errors & SslPolicyErrors.RemoteCertificateNameMismatch) == 0
                    && (errors & SslPolicyErrors.RemoteCertificateNotAvailable) == 0
                    && HaCertificates.IsSignedBy(c, ca),
            },
        };
        _http = new HttpClient(handler) { Timeout = timeout ?? TimeSpan.FromSeconds(10) };
        if (credential is not null)
            _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic",
                Convert.ToBase64String(Encoding.UTF8.GetBytes($"{credential.UserName}:{credential.Password}")));
        _baseUrl = AutoFailoverConfig.RestApiUrl(address, new HaSettings { Scope = "-", RestApiPort = port });
        Address = address;
    }

    public string Address { get; }

    public PatroniClusterState Cluster()
    {
        var json = JsonNode.Parse(Send(HttpMethod.Get, "/cluster", null).Body) ?? throw Bad("/cluster", "an empty answer");
        var members = (json["members"] as JsonArray ?? new JsonArray()).OfType<JsonObject>().Select(m => new PatroniMember(
            (string?)m["name"] ?? "?", (string?)m["role"] ?? "?", (string?)m["state"] ?? "?", (string?)m["host"],
            m["port"] is JsonValue p && p.TryGetValue<int>(out var port) ? port : null,
            m["timeline"] is JsonValue t && t.TryGetValue<int>(out var tl) ? tl : null,
            m["lag"] is JsonValue l && l.TryGetValue<long>(out var lag) ? lag : null,
            m["pending_restart"] is JsonValue r && r.TryGetValue<bool>(out var pending) && pending)
        {
            NoFailover = m["tags"]?["nofailover"] is JsonValue nf && nf.TryGetValue<bool>(out var noFailover) && noFailover,
        }).ToList();
        var paused = json["pause"] is JsonValue pv && pv.TryGetValue<bool>(out var isPaused) && isPaused;
        return new PatroniClusterState((string?)json["scope"] ?? "", members, paused);
    }

    /// <summary>HTTP status of GET /&lt;path&gt; (/primary answers 200 only on the leader, /health on a running server).</summary>
    public int Probe(string path) => (int)Send(HttpMethod.Get, path, null, throwOnError: false).Status;

    public string Switchover(string leader, string candidate) =>
        Send(HttpMethod.Post, "/switchover", new JsonObject { ["leader"] = leader, ["candidate"] = candidate }).Body;

    public string Failover(string candidate) =>
        Send(HttpMethod.Post, "/failover", new JsonObject { ["candidate"] = candidate }).Body;

    public string Reinitialize() => Send(HttpMethod.Post, "/reinitialize", new JsonObject { ["force"] = true }).Body;

    /// <summary>POST /restart: Patroni restarts this member's server (and keeps its role); answers when it is back.</summary>
    public string Restart() => Send(HttpMethod.Post, "/restart", new JsonObject()).Body;

    /// <summary>POST /reload: Patroni reads its configuration file again (tags, recovery_conf) and applies it.</summary>
    public string Reload() => Send(HttpMethod.Post, "/reload", null).Body;

    /// <summary>GET /config: the dynamic configuration as Patroni keeps it in the DCS (read without a login).</summary>
    public JsonObject Config() =>
        JsonNode.Parse(Send(HttpMethod.Get, "/config", null).Body) as JsonObject ?? throw Bad("/config", "no JSON object");

    /// <summary>PATCH /config: a change of the dynamic configuration (null removes a key).</summary>
    public string PatchConfig(JsonObject change) => Send(HttpMethod.Patch, "/config", change).Body;

    private (HttpStatusCode Status, string Body) Send(HttpMethod method, string path, JsonNode? body, bool throwOnError = true)
    {
        using var request = new HttpRequestMessage(method, _baseUrl + path);
        if (body is not null) request.Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json");
        HttpResponseMessage response;
        try { response = _http.Send(request); }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or IOException)
        {
            throw new PatroniApiException(Address, $"Patroni's REST API at {_baseUrl} did not answer {method} {path}: {ex.GetBaseException().Message}", null, ex);
        }
        using (response)
        {
            using var reader = new StreamReader(response.Content.ReadAsStream());
            var text = reader.ReadToEnd();
            if (throwOnError && !response.IsSuccessStatusCode)
                throw new PatroniApiException(Address, $"Patroni's REST API at {_baseUrl} answered {method} {path} with {(int)response.StatusCode}: {Shorten(text)}", (int)response.StatusCode);
            return (response.StatusCode, text);
        }
    }

    private PatroniApiException Bad(string path, string what) => new(Address, $"Patroni's REST API at {_baseUrl}{path} gave {what}.", null);

    private static string Shorten(string s) { s = s.Trim(); return s.Length <= 300 ? s : s[..300] + " ..."; }

    public void Dispose() => _http.Dispose();
}

/// <summary>Patroni's REST API refused or did not answer; the message names the address.</summary>
public sealed class PatroniApiException(string address, string message, int? status, Exception? inner = null) : Exception(message, inner)
{
    public string Address { get; } = address;
    public int? Status { get; } = status;
}
