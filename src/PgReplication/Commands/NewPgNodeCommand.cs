using System.Management.Automation;
using PgReplication.Core.Hosts;
using PgReplication.Core.Model;
using PgReplication.Core.Operations;

namespace PgReplication.Commands;

/// <summary>
/// <para type="synopsis">Creates node objects for PostgreSQL servers and discovers what they are.</para>
/// </summary>
[Cmdlet(VerbsCommon.New, "PgNode")]
[OutputType(typeof(PgNode))]
public sealed class NewPgNodeCommand : PgCmdlet
{
    [Parameter(Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("HostName")]
    [ValidateNotNullOrEmpty]
    public string[]? ComputerName { get; set; }

    [Parameter]
    [ValidateRange(1, 65535)]
    public int Port { get; set; } = PgNode.DefaultPort;

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Name { get; set; }

    [Parameter]
    [Credential]
    [ValidatePasswordText]
    public PSCredential? Credential { get; set; }

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string Database { get; set; } = "postgres";

    [Parameter]
    public SwitchParameter Local { get; set; }

    [Parameter]
    public SwitchParameter NoConnect { get; set; }

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string OsUser { get; set; } = "postgres";

    [Parameter]
    [ValidateRange(1, 3600)]
    public int ConnectTimeoutSeconds { get; set; } = 10;

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? SshUser { get; set; }

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? SshKeyPath { get; set; }

    [Parameter]
    [Credential]
    public PSCredential? SshCredential { get; set; }

    [Parameter]
    [ValidateRange(1, 65535)]
    public int SshPort { get; set; } = 22;

    [Parameter]
    [ValidatePattern("^SHA256:[A-Za-z0-9+/]{43}=?$")]
    public string? SshHostKeyFingerprint { get; set; }

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? KnownHostsPath { get; set; }

    [Parameter]
    public SwitchParameter AcceptNewHostKey { get; set; }

    [Parameter]
    public SwitchParameter SshTunnel { get; set; }

    private int _count;
    private bool _usesSsh;

    protected override void BeginProcessing()
    {
        var usesSsh = _usesSsh = SshUser is not null || SshKeyPath is not null || SshCredential is not null ||
                      SshHostKeyFingerprint is not null || SshTunnel || AcceptNewHostKey ||
                      MyInvocation.BoundParameters.ContainsKey(nameof(SshPort)) || KnownHostsPath is not null;
        if (Local && usesSsh)
            ThrowArgumentError("-Local cannot be combined with SSH parameters: a local node is reached without SSH.",
                "LocalWithSsh", null);
    }

    protected override void ProcessRecord()
    {
        var names = ComputerName ?? (Local ? new[] { "127.0.0.1" } : null);
        if (names is null)
        {
            ThrowArgumentError("Give -ComputerName (\"host\" or \"host:port\"), or -Local for a cluster on this machine.",
                "NoComputerName", null);
            return;
        }

        foreach (var text in names)
        {
            if (!NodeAddress.TryParse(text, out var address, out var error))
            {
                WriteNodeError(new ArgumentException(error), "InvalidComputerName", text);
                continue;
            }
            if (Name is not null && ++_count > 1)
            {
                ThrowArgumentError($"-Name '{Name}' can name only one node, but more than one computer name was given.",
                    "NameForManyNodes", text);
            }

            PgNode node;
            try
            {
                node = NodeFactory.Create(address, Port, new NodeSettings
                {
                    Name = Name,
                    Local = Local,
                    AdminCredential = RoleCredential(Credential),
                    Database = Database,
                    OsUser = OsUser,
                    ConnectTimeout = TimeSpan.FromSeconds(ConnectTimeoutSeconds),
                    Ssh = SshSettings(),
                });
            }
            catch (ArgumentException ex)
            {
                ThrowArgumentError(ex.Message, "InvalidNodeSetting", text);
                return;
            }
            SessionNodes.Remember(node);

            if (NoConnect)
            {
                WriteObject(node);
                continue;
            }

            try
            {
                RunCore(log => NodeDiscovery.DiscoverReached(node, log));
            }
            catch (SshHostKeyException ex)
            {
                // A changed key may be an attack: it gets its own ErrorId so scripts can tell it from an unknown one.
                WriteNodeError(ex, ex.IsChanged ? "HostKeyChanged" : "HostKeyRefused", node, ErrorCategory.SecurityError);
            }
            catch (Exception ex) when (ex is not PipelineStoppedException)
            {
                // The node still comes out (Role Unreachable) so a later cmdlet can fill it,
                // and the error names the host so the admin knows which one.
                WriteNodeError(ex, "NodeUnreachable", node);
            }
            WriteObject(node);
        }
    }

    /// <summary>The SSH settings given, or null when none were (a loopback host is then local).</summary>
    private SshOptions? SshSettings()
    {
        if (Local || !_usesSsh) return null;
        return new SshOptions
        {
            User = SshUser ?? OsUser,
            Port = SshPort,
            KeyPath = SshKeyPath is null ? null : GetUnresolvedProviderPathFromPSPath(SshKeyPath),
            Credential = SshCredential?.GetNetworkCredential(),
            HostKeyFingerprint = SshHostKeyFingerprint,
            KnownHostsPath = KnownHostsPath is null ? null : GetUnresolvedProviderPathFromPSPath(KnownHostsPath),
            AcceptNewHostKey = AcceptNewHostKey,
            UseTunnel = SshTunnel,
        };
    }
}
