using System.Management.Automation;
using PgReplication.Core.Hosts;
using PgReplication.Core.Model;
using PgReplication.Core.Operations;

namespace PgReplication.Commands;

/// <summary>
/// <para type="synopsis">Turns on TLS end to end for a cluster: certificates, ssl, verify-full standbys, hostssl replication lines.</para>
/// </summary>
[Cmdlet(VerbsLifecycle.Enable, "PgReplicationSsl", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(PgNode))]
public sealed class EnablePgReplicationSslCommand : PgClusterCmdlet
{
    /// <summary>A directory on this machine with ca.crt and ca.key (PEM); a new CA is made there when it holds neither.</summary>
    [Parameter(Mandatory = true)]
    [ValidateNotNullOrEmpty]
    public string CertificateAuthorityPath { get; set; } = "";

    [Parameter]
    [ValidateRange(31, 3650)]
    public int ValidDays { get; set; } = 825;

    [Parameter]
    [ValidateRange(5, 24 * 3600)]
    public int TimeoutSeconds { get; set; } = 120;

    protected override void Run(IReadOnlyDictionary<PgNode, IHostShell> shells)
    {
        var caDirectory = GetUnresolvedProviderPathFromPSPath(CertificateAuthorityPath);
        var caFile = CertificateAuthority.CertificatePath(caDirectory);
        var timeout = TimeSpan.FromSeconds(TimeoutSeconds);
        // A new CA is made only once the run is approved: -WhatIf leaves this machine as it was too.
        var ca = CertificateAuthority.IsNew(caDirectory) ? null : CertificateAuthority.LoadOrCreate(caDirectory, "");
        var plan = RunCore(log => Tls.Prepare(Nodes, ca ?? ProvisionalCa(), shells, log));
        if (ca is null) plan.Steps.Insert(0, $"make a CA for the cluster in {caDirectory} (ca.key 0600)");
        else if (plan.ChangesNothing)
        {
            foreach (var node in RunCore(log => Tls.Apply(plan, ca, caFile, ValidDays, shells, timeout, log))) WriteObject(node);
            return;
        }
        if (!ShouldProcessPlan($"TLS for {plan.Primary.Name}'s cluster", $"Turn on TLS with verify-full on {string.Join(", ", Nodes.Select(n => n.Name))}?", plan.Steps, "Enable-PgReplicationSsl"))
            return;
        if (ca is null)
        {
            ca = CertificateAuthority.LoadOrCreate(caDirectory, plan.Primary.Name);
            plan = RunCore(log => Tls.Prepare(Nodes, ca, shells, log));
        }
        foreach (var node in RunCore(log => Tls.Apply(plan, ca, caFile, ValidDays, shells, timeout, log))) WriteObject(node);
    }

    protected override string FailureId(Exception exception) => exception switch
    {
        ArgumentException => "InvalidCertificateAuthority",
        _ => "TlsFailed",
    };

    // For the plan of a run that will make its CA: a throwaway one, against which no certificate passes.
    private static CertificateAuthority ProvisionalCa()
    {
        var dir = Path.Combine(Path.GetTempPath(), "pgreplication-ca-" + Guid.NewGuid().ToString("N"));
        try { return CertificateAuthority.LoadOrCreate(dir, "provisional"); }
        finally { try { Directory.Delete(dir, recursive: true); } catch (IOException) { } }
    }
}
