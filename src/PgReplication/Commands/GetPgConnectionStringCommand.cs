using System.Management.Automation;
using PgReplication.Core.Model;
using PgReplication.Core.Sql;

namespace PgReplication.Commands;

/// <summary>
/// <para type="synopsis">Writes one connection string that names every node, so applications find the current primary after a failover.</para>
/// </summary>
[Cmdlet(VerbsCommon.Get, "PgConnectionString", DefaultParameterSetName = "Default")]
[OutputType(typeof(PgConnectionString))]
public sealed class GetPgConnectionStringCommand : PgCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
    [PgNodeTransformation]
    [ArgumentCompleter(typeof(NodeNameCompleter))]
    public PgNode[] InputObject { get; set; } = Array.Empty<PgNode>();

    [Parameter]
    [ValidateSet("Libpq", "Npgsql", "Jdbc", "All")]
    public string Format { get; set; } = "Libpq";

    [Parameter]
    public TargetSessionAttribute TargetSessionAttribute { get; set; } = TargetSessionAttribute.ReadWrite;

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string Database { get; set; } = "postgres";

    /// <summary>Seconds the client waits for each host before trying the next (0: the client's default, which can be minutes for a host that is cut off).</summary>
    [Parameter]
    [ValidateRange(0, 3600)]
    public int ConnectTimeoutSeconds { get; set; } = 5;

    [Parameter(Mandatory = true, ParameterSetName = "Credential")]
    [Credential]
    public PSCredential? Credential { get; set; }

    [Parameter(Mandatory = true, ParameterSetName = "UserName")]
    [ValidateNotNullOrEmpty]
    public string? UserName { get; set; }

    /// <summary>Puts the password of -Credential in the string; without it no secret is written.</summary>
    [Parameter(ParameterSetName = "Credential")]
    public SwitchParameter IncludePassword { get; set; }

    /// <summary>libpq's sslmode; verify-full checks the server's certificate against -SslRootCertificate and its name.</summary>
    [Parameter]
    [ValidateSet("disable", "allow", "prefer", "require", "verify-ca", "verify-full")]
    public string? SslMode { get; set; }

    /// <summary>The CA file clients check the servers against (the ca.crt of Enable-PgReplicationSsl), as a path on the client.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? SslRootCertificate { get; set; }

    private readonly List<PgNode> _nodes = new();

    protected override void ProcessRecord() => _nodes.AddRange(InputObject);

    // One string for all the nodes piped in: it is the list of hosts that lets clients follow a failover.
    protected override void EndProcessing()
    {
        var settings = new ConnectionStringSettings
        {
            Database = Database,
            UserName = Credential?.UserName ?? UserName ?? _nodes.FirstOrDefault()?.AdminCredential?.UserName,
            Password = IncludePassword ? Credential!.GetNetworkCredential().Password : null,
            Target = TargetSessionAttribute,
            ConnectTimeoutSeconds = ConnectTimeoutSeconds,
            SslMode = SslMode?.ToLowerInvariant(),
            SslRootCert = SslRootCertificate,
        };
        var formats = Format.Equals("All", StringComparison.OrdinalIgnoreCase)
            ? Enum.GetValues<ConnectionStringFormat>()
            : new[] { Enum.Parse<ConnectionStringFormat>(Format, ignoreCase: true) };
        List<PgConnectionString> results;
        try { results = formats.Select(f => ConnectionStrings.Build(f, _nodes, settings)).ToList(); }
        catch (ArgumentException ex) { ThrowArgumentError(ex.Message, "InvalidConnectionValue", _nodes.ToArray()); return; }

        if (TargetSessionAttribute != TargetSessionAttribute.Any && formats.Any(f => ConnectionStrings.DropsTarget(f, _nodes)))
            WriteWarning($"Npgsql takes a target session attribute only with several hosts: its string for {_nodes[0].Name} alone connects " +
                         $"to it whatever its role ({TargetSessionAttribute} is not checked). Give every node of the cluster to have it checked.");
        if (IncludePassword)
            WriteWarning($"The connection string carries the password of '{settings.UserName}': keep it out of logs, transcripts and shared files.");
        foreach (var r in results) WriteObject(r);
    }
}
