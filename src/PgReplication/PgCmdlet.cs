using System.Collections.Concurrent;
using System.Management.Automation;
using PgReplication.Core.Hosts;
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
        var log = new QueuedLog();
        var task = Task.Run(() => { try { return work(log); } finally { log.Complete(); } });
        foreach (var report in log.Reports.GetConsumingEnumerable())
            report(this);
        return task.GetAwaiter().GetResult();
    }

    protected void RunCore(Action<IOperationLog> work) => RunCore(log => { work(log); return true; });

    /// <summary>A failure of one node: reported, and the pipeline goes on with the others.</summary>
    protected void WriteNodeError(Exception exception, string errorId, object? target, ErrorCategory? category = null) =>
        WriteError(NodeError(exception, errorId, target, category));

    protected static ErrorRecord NodeError(Exception exception, string errorId, object? target, ErrorCategory? category = null) =>
        new(exception, "PgReplication." + errorId, category ?? CategoryOf(exception), target);

    /// <summary>Bad arguments: stop the cmdlet.</summary>
    protected void ThrowArgumentError(string message, string errorId, object? target) =>
        ThrowTerminatingError(new ErrorRecord(new ArgumentException(message), "PgReplication." + errorId,
            ErrorCategory.InvalidArgument, target));

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
    private sealed class QueuedLog : IOperationLog
    {
        public BlockingCollection<Action<PgCmdlet>> Reports { get; } = new();
        public void Complete() => Reports.CompleteAdding();
        public void Verbose(string message) => Add(c => c.WriteVerbose(message));
        public void Debug(string message) => Add(c => c.WriteDebug(message));
        public void Warning(string message) => Add(c => c.WriteWarning(message));
        public void Progress(OperationProgress p) => Add(c => c.WriteProgress(new ProgressRecord(p.ActivityId, p.Activity, p.Status)
        {
            PercentComplete = p.PercentComplete,
            RecordType = p.Completed ? ProgressRecordType.Completed : ProgressRecordType.Processing,
        }));
        private void Add(Action<PgCmdlet> report) { if (!Reports.IsAddingCompleted) Reports.Add(report); }
    }
}
