using System.Collections.Concurrent;
using System.Management.Automation;
using System.Net;
using PgReplication.Core.Hosts;
using PgReplication.Core.Model;
using PgReplication.Core.Operations;
using PgReplication.Core.Sql;

namespace PgReplication;

/// <summary>
/// What every PgReplication cmdlet shares: Core work runs on a worker thread while this
/// (the pipeline) thread turns its reports into Write-Verbose/Debug/Warning/Progress,
/// which PowerShell only accepts from the pipeline thread; failures become ErrorRecords.
/// </summary>
public abstract class PgCmdlet : PSCmdlet
{
    private readonly CancellationTokenSource _stopping = new();

    /// <summary>Set when the user presses Ctrl+C; long Core work checks it.</summary>
    protected CancellationToken StopToken => _stopping.Token;

    protected override void StopProcessing() => _stopping.Cancel();

    /// <summary>Runs Core work, relaying what it reports while it runs. Exceptions come back as thrown.</summary>
    protected T RunCore<T>(Func<IOperationLog, T> work)
    {
        var log = new QueuedLog(Wants("Verbose", "VerbosePreference"), Wants("Debug", "DebugPreference"));
        var task = Concurrently.Start(() => { try { return work(log); } finally { log.Complete(); } });
        foreach (var report in log.Reports.GetConsumingEnumerable())
            report(this);
        return task.GetAwaiter().GetResult();
    }

    protected void RunCore(Action<IOperationLog> work) => RunCore(log => { work(log); return true; });

    /// <summary>
    /// Whether the caller will see a stream (-Verbose, -Debug or the preference variable): messages nobody
    /// reads are not queued, so the pipeline thread is not woken for each of them while the work runs.
    /// </summary>
    private bool Wants(string commonParameter, string preferenceVariable)
    {
        if (MyInvocation.BoundParameters.TryGetValue(commonParameter, out var given))
            return given is SwitchParameter s ? s.IsPresent : LanguagePrimitives.IsTrue(given);
        var preference = GetVariableValue(preferenceVariable);
        return !LanguagePrimitives.TryConvertTo(preference, out ActionPreference p) || p is not (ActionPreference.SilentlyContinue or ActionPreference.Ignore);
    }

    /// <summary>
    /// A PostgreSQL role's credential as typed: PSCredential.GetNetworkCredential() reads "a\\b" as domain a, user b,
    /// but a backslash is an ordinary character of a role name.
    /// </summary>
    protected static NetworkCredential? RoleCredential(PSCredential? credential) =>
        credential is null ? null : new NetworkCredential(credential.UserName, credential.Password);

    /// <summary>The nodes of one cluster, each once, sharing the admin credential one of them carries.</summary>
    protected static List<PgNode> ClusterNodes(IEnumerable<PgNode> nodes)
    {
        var list = nodes.Distinct().ToList();
        PgNode.ShareAdminCredential(list.ToArray());
        return list;
    }

    /// <summary>Nodes not yet discovered (strings, -NoConnect, or unreachable before) are asked what they are; failures are verbose only.</summary>
    protected void DiscoverUndiscovered(IEnumerable<PgNode> nodes)
    {
        foreach (var node in nodes.Where(n => n.Role is NodeRole.Unknown or NodeRole.Unreachable))
        {
            try { RunCore(log => NodeDiscovery.Discover(node, log)); }
            catch (Exception ex) when (ex is not PipelineStoppedException) { WriteVerbose($"{node.Name}: {ex.Message}"); }
        }
    }

    /// <summary>A failure of one node: reported, and the pipeline goes on with the others.</summary>
    protected void WriteNodeError(Exception exception, string errorId, object? target, ErrorCategory? category = null) =>
        WriteError(NodeError(exception, errorId, target, category));

    /// <remarks>A refusal with a known reason is reported under that reason, not under the cmdlet's general id.</remarks>
    protected static ErrorRecord NodeError(Exception exception, string errorId, object? target, ErrorCategory? category = null) =>
        exception is RefusedException refused
            ? new(exception, "PgReplication." + refused.Reason, category ?? ErrorCategory.InvalidOperation, target)
            : new(exception, "PgReplication." + errorId, category ?? CategoryOf(exception), target);

    /// <summary>Bad arguments: stop the cmdlet.</summary>
    protected void ThrowArgumentError(string message, string errorId, object? target) =>
        ThrowTerminatingError(new ErrorRecord(new ArgumentException(message), "PgReplication." + errorId,
            ErrorCategory.InvalidArgument, target));

    /// <summary>
    /// Asks ShouldProcess for a whole plan: the steps go to the verbose stream too (where -WhatIf -Verbose
    /// can capture them; the What-if text itself only reaches the host), then one question for all of them.
    /// </summary>
    protected bool ShouldProcessPlan(string target, string question, IReadOnlyCollection<string> steps, string caption)
    {
        foreach (var step in steps) WriteVerbose("Planned: " + step);
        var list = string.Join(Environment.NewLine, steps.Select(s => "  - " + s));
        return ShouldProcess($"{target}:{Environment.NewLine}{list}", $"{question}{Environment.NewLine}{list}", caption);
    }

    /// <summary>An -OnPromoted hook must be a scriptblock or a command line; checked before anything changes.</summary>
    protected void ValidateHook(object? hook)
    {
        if (hook is PSObject { BaseObject: var inner }) hook = inner;
        if (hook is not (null or ScriptBlock or string))
            ThrowArgumentError($"-OnPromoted takes a scriptblock or a command line, not a {hook.GetType().Name}.", "BadHook", hook);
    }

    /// <summary>
    /// Writes the new primary (with its summary as a PromotionSummary note property) and, when asked, the
    /// siblings; reports each sibling that could not follow; then runs the hook, whose failure is an error
    /// of its own and never undoes the promotion.
    /// </summary>
    protected void WritePromotionResult(PgNode newPrimary, PgNode? oldPrimary, PromotionSummary summary, object? hook, bool includeSiblings)
    {
        foreach (var step in summary.Steps) WriteVerbose(step);
        var result = PSObject.AsPSObject(newPrimary);
        result.Properties.Remove("PromotionSummary");
        result.Properties.Add(new PSNoteProperty("PromotionSummary", summary));
        WriteObject(result);
        foreach (var sibling in summary.Siblings)
        {
            if (!sibling.Streaming)
                WriteError(NodeError(new InvalidOperationException(sibling.ToString()), "SiblingNotFollowing", sibling.Node, ErrorCategory.InvalidResult));
            else if (includeSiblings && sibling.Node is not null) WriteObject(sibling.Node);
        }
        if (hook is PSObject { BaseObject: var inner }) hook = inner;
        try
        {
            switch (hook)
            {
                case ScriptBlock block:
                    block.Invoke(oldPrimary, newPrimary);
                    break;
                case string commandLine:
                    PromotedHook.RunCommandLine(commandLine, oldPrimary?.Name, newPrimary.Name);
                    break;
            }
        }
        catch (Exception ex) when (ex is not PipelineStoppedException)
        {
            WriteError(NodeError(new InvalidOperationException($"The -OnPromoted hook failed after {newPrimary.Name} was promoted (the promotion stands): {ex.Message}", ex),
                "OnPromotedFailed", newPrimary, ErrorCategory.InvalidResult));
        }
    }

    private static ErrorCategory CategoryOf(Exception exception) => exception switch
    {
        SshHostKeyException => ErrorCategory.SecurityError,
        PgConnectionException => ErrorCategory.ConnectionError,
        HostCommandException { Result.TimedOut: true } => ErrorCategory.OperationTimeout,
        HostCommandException => ErrorCategory.InvalidResult,
        PgQueryException => ErrorCategory.InvalidOperation,
        ArgumentException or FormatException => ErrorCategory.InvalidArgument,
        NotSupportedException => ErrorCategory.NotImplemented,
        UnauthorizedAccessException => ErrorCategory.SecurityError,
        TimeoutException => ErrorCategory.OperationTimeout,
        _ => ErrorCategory.NotSpecified,
    };

    /// <summary>Reports from any thread, queued for the pipeline thread.</summary>
    private sealed class QueuedLog(bool verbose, bool debug) : IOperationLog
    {
        public BlockingCollection<Action<PgCmdlet>> Reports { get; } = new();
        public void Complete() => Reports.CompleteAdding();
        public void Verbose(string message) { if (verbose) Add(c => c.WriteVerbose(message)); }
        public void Debug(string message) { if (debug) Add(c => c.WriteDebug(message)); }
        public void Warning(string message) => Add(c => c.WriteWarning(message));
        public void Progress(OperationProgress p) => Add(c => c.WriteProgress(new ProgressRecord(p.ActivityId, p.Activity, p.Status)
        {
            PercentComplete = p.PercentComplete,
            RecordType = p.Completed ? ProgressRecordType.Completed : ProgressRecordType.Processing,
        }));
        private void Add(Action<PgCmdlet> report) { if (!Reports.IsAddingCompleted) Reports.Add(report); }
    }
}
