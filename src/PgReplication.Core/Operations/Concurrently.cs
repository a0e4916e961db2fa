namespace PgReplication.Core.Operations;

/// <summary>
/// Reads that wait on the network (a command on a host, a query), started at once so their round trips
/// overlap. Each gets a thread of its own: on a 2-core host the thread pool would start blocking work
/// only a few at a time, and the point is that they all wait together.
/// </summary>
public static class Concurrently
{
    public static Task<T> Start<T>(Func<T> read) =>
        Task.Factory.StartNew(read, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    /// <summary>The task's result, or its own exception (not an AggregateException), as a direct call would throw.</summary>
    public static T Join<T>(this Task<T> task) => task.GetAwaiter().GetResult();
}
