using PgReplication.Core.Model;

namespace PgReplication.Core.Hosts;

/// <summary>Opens the shell through which a node's host is reached: here, or over SSH.</summary>
public static class HostShells
{
    /// <summary>
    /// The node's shell: a <see cref="LocalShell"/>, or an <see cref="SshShell"/> connected with the host key
    /// checked (throws <see cref="SshHostKeyException"/> or <see cref="HostCommandException"/> naming the host).
    /// The caller owns it: open it once per cmdlet and dispose it at the end.
    /// </summary>
    public static IHostShell Open(PgNode node, IOperationLog log)
    {
        if (node.Access == HostAccess.Ssh && LentShells.TryGetValue(node, out var lent) && ReferenceEquals(lent.Options, node.Ssh) && lent.TryHold())
        {
            log.Verbose($"Using the SSH connection to {lent.Options.User}@{lent.HostName} of the command before this one in the pipeline.");
            return lent;
        }
        return node.Access switch
        {
            HostAccess.Local => new LocalShell(node.ComputerName),
            HostAccess.Ssh => SshShell.Connect(node.ComputerName,
                node.Ssh ?? throw new ArgumentException($"{node.Name} is reached over SSH but has no SSH settings.", nameof(node)), log),
            _ => throw new ArgumentOutOfRangeException(nameof(node)),
        };
    }

    /// <summary>
    /// Lets the cmdlets further down the pipeline use an open SSH connection to <paramref name="node"/> while
    /// the cmdlet that opened it writes the node out (PowerShell runs them inside that WriteObject): a pipeline
    /// such as Invoke-PgBaseBackup | Enable-PgHotStandby then logs in to the standby once. The loan ends when
    /// the result is disposed; the connection stays the lender's, so it still closes when the lender ends.
    /// </summary>
    public static IDisposable Lend(PgNode node, IHostShell shell)
    {
        if (shell is not SshShell ssh || !ReferenceEquals(ssh.Options, node.Ssh)) return NoLoan.Instance;
        LentShells.AddOrUpdate(node, ssh);
        return new Loan(node, ssh);
    }

    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<PgNode, SshShell> LentShells = new();

    private sealed class Loan(PgNode node, SshShell shell) : IDisposable
    {
        public void Dispose()
        {
            if (LentShells.TryGetValue(node, out var lent) && ReferenceEquals(lent, shell)) LentShells.Remove(node);
        }
    }

    private sealed class NoLoan : IDisposable
    {
        public static readonly NoLoan Instance = new();
        public void Dispose() { }
    }

    /// <summary>The shells of two nodes, connected at the same time; when one fails, the other is closed.</summary>
    public static (IHostShell First, IHostShell Second) OpenBoth(PgNode first, PgNode second, IOperationLog log)
    {
        var a = Concurrently.Start(() => Open(first, log));
        var b = Concurrently.Start(() => Open(second, log));
        try { Task.WaitAll(a, b); }
        catch (AggregateException)
        {
            if (a.IsCompletedSuccessfully) a.Result.Dispose();
            if (b.IsCompletedSuccessfully) b.Result.Dispose();
            // The first node's failure when both failed, as a sequential open would have said.
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw((a.Exception ?? b.Exception)!.InnerException!);
            throw;
        }
        return (a.Result, b.Result);
    }

    /// <summary>
    /// Where SQL to the node goes: null for the node's own ComputerName:Port, or the local end of an SSH
    /// tunnel (opened on <paramref name="shell"/>, closed with it) when the node's SSH settings ask for one.
    /// Pass the result to PgSession.Open(..., via: ...).
    /// </summary>
    public static PgEndpoint? SqlEndpoint(PgNode node, IHostShell shell) =>
        node.Access == HostAccess.Ssh && node.Ssh?.UseTunnel == true && shell is SshShell ssh
            ? ssh.ForwardPostgres(node.Port)
            : null;
}
