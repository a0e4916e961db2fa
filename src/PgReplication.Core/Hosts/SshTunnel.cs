using Renci.SshNet;

namespace PgReplication.Core.Hosts;

/// <summary>
/// An SSH local port forward: 127.0.0.1:&lt;ephemeral&gt; here to 127.0.0.1:&lt;port&gt; on the host,
/// so PostgreSQL can stay bound to the host's loopback. Lives and dies with its <see cref="SshShell"/>.
/// </summary>
internal sealed class SshTunnel : IDisposable
{
    private readonly SshClient _client;
    private readonly ForwardedPortLocal _forward;

    public SshTunnel(SshClient client, string hostName, int remotePort)
    {
        _client = client;
        RemotePort = remotePort;
        // Port 0: the OS picks a free port; only this machine's loopback can use it.
        _forward = new ForwardedPortLocal("127.0.0.1", 0, "127.0.0.1", (uint)remotePort);
        _client.AddForwardedPort(_forward);
        try
        {
            _forward.Start();
        }
        catch (Exception ex)
        {
            _client.RemoveForwardedPort(_forward);
            _forward.Dispose();
            throw new HostCommandException(hostName,
                $"Could not open an SSH tunnel to port {remotePort} on {hostName}: {ex.Message}", ex);
        }
        Endpoint = new PgEndpoint("127.0.0.1", (int)_forward.BoundPort);
    }

    public int RemotePort { get; }
    public PgEndpoint Endpoint { get; }

    public void Dispose()
    {
        try { _forward.Stop(); } catch (Exception) { /* the session may already be gone */ }
        try { _client.RemoveForwardedPort(_forward); } catch (Exception) { }
        _forward.Dispose();
    }
}
