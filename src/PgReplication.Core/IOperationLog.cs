namespace PgReplication.Core;

/// <summary>
/// Where operations report what they do. The cmdlets turn these into Write-Verbose, Write-Debug,
/// Write-Warning and Write-Progress; implementations must accept calls from any thread.
/// Nothing passed here may contain a secret.
/// </summary>
public interface IOperationLog
{
    void Verbose(string message);
    void Debug(string message);
    void Warning(string message);
    void Progress(OperationProgress progress);
}

/// <summary>One progress report: an activity per node, with a percentage when known.</summary>
public sealed record OperationProgress(string Activity, string Status, int PercentComplete = -1, bool Completed = false, int ActivityId = 1);

/// <summary>Discards everything; for callers that do not care.</summary>
public sealed class NullOperationLog : IOperationLog
{
    public static readonly NullOperationLog Instance = new();
    public void Verbose(string message) { }
    public void Debug(string message) { }
    public void Warning(string message) { }
    public void Progress(OperationProgress progress) { }
}
