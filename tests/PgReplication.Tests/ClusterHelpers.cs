using System.Net;
using System.Net.Sockets;
using System.Management.Automation;
using System.Security;
using PgReplication.Core.Model;
using PgReplication.Core.Sql;

namespace PgReplication.Tests;

/// <summary>Small helpers the primary-side tests share: SQL as the admin, credentials, file hashes.</summary>
internal static class ClusterHelpers
{
    public static PgNode AdminNode(LocalCluster cluster) => new("127.0.0.1", cluster.Port) { AdminCredential = cluster.Credential };

    public static T? Scalar<T>(LocalCluster cluster, string sql, params (string, object?)[] parameters)
    {
        using var session = PgSession.Open(AdminNode(cluster));
        return session.Scalar<T>(sql, parameters);
    }

    public static void Execute(LocalCluster cluster, string sql, params (string, object?)[] parameters)
    {
        using var session = PgSession.Open(AdminNode(cluster));
        session.Execute(sql, parameters);
    }

    public static PSCredential PsCredential(string user, string password)
    {
        var secure = new SecureString();
        foreach (var c in password) secure.AppendChar(c);
        return new PSCredential(user, secure);
    }

    public static string Hash(string path) => Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(path)));

    public static Dictionary<string, object?> Vars(LocalCluster cluster, params (string, object?)[] more)
    {
        var v = new Dictionary<string, object?>
        {
            ["port"] = cluster.Port,
            ["cred"] = PsCredential(LocalCluster.AdminUser, cluster.Password),
        };
        foreach (var (k, value) in more) v[k] = value;
        return v;
    }

    /// <summary>Waits for a condition, failing the test with <paramref name="what"/> when it does not come.</summary>
    public static void WaitFor(Func<bool> condition, string what, int seconds = 30)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) Assert.Fail($"Timed out waiting for {what}.");
            Thread.Sleep(200);
        }
    }
}

/// <summary>
/// Forwards TCP connections to the server from a chosen loopback source address (127.0.0.x), so a
/// test can show pg_hba.conf letting one address in and keeping another out.
/// </summary>
internal sealed class SourceAddressProxy : IDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();

    public SourceAddressProxy(IPAddress source, int serverPort)
    {
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _ = Task.Run(async () =>
        {
            while (!_stop.IsCancellationRequested)
            {
                TcpClient client;
                try { client = await _listener.AcceptTcpClientAsync(_stop.Token); }
                catch (Exception) { return; }
                _ = Task.Run(async () =>
                {
                    using var c = client;
                    using var server = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                    server.Bind(new IPEndPoint(source, 0));
                    await server.ConnectAsync(new IPEndPoint(IPAddress.Loopback, serverPort));
                    using var serverStream = new NetworkStream(server, ownsSocket: false);
                    var clientStream = c.GetStream();
                    var up = clientStream.CopyToAsync(serverStream, _stop.Token);
                    var down = serverStream.CopyToAsync(clientStream, _stop.Token);
                    try { await Task.WhenAny(up, down); } catch (Exception) { }
                });
            }
        });
    }

    public int Port { get; }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Stop();
    }
}
