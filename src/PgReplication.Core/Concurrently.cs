namespace PgReplication.Core;

/// <summary>
/// Reads that wait on the network (a command on a host, a query), started at once so their round trips
/// overlap. Each runs on a thread of its own: on a 2-core host the thread pool would start blocking work only
/// a few at a time, and the point is that they all wait together. The threads are kept for a while after their
/// read, and the next reads reuse them: starting a thread costs about a millisecond on such a host, as much as
/// the query it runs, so a shell that checks seven standbys again and again would otherwise pay for seven
/// thread starts each time (measured in bench/analysis.md).
/// </summary>
public static class Concurrently
{
    /// <summary>How long an idle thread waits for the next read before it ends: a script that is done lets them go.</summary>
    private static readonly TimeSpan IdleLifetime = TimeSpan.FromSeconds(60);

    private static readonly object Gate = new();
    private static readonly List<Worker> Idle = new();

    public static Task<T> Start<T>(Func<T> read)
    {
        // Continuations run elsewhere: a joiner must not run on, and hold, the worker that completed it.
        var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        Dispatch(() =>
        {
            try { done.SetResult(read()); }
            catch (Exception ex) { done.SetException(ex); }
        });
        return done.Task;
    }

    /// <summary>
    /// <paramref name="read"/> of every item, all started before any is awaited, the results in the items' order. The
    /// first failure (in that order) is thrown as a direct call would throw it, after every read has ended.
    /// </summary>
    public static IReadOnlyList<TResult> Map<TItem, TResult>(IEnumerable<TItem> items, Func<TItem, TResult> read)
    {
        var started = items.Select(item => Start(() => read(item))).ToList();
        try { Task.WaitAll(started.ToArray<Task>()); }
        catch (AggregateException) { }
        return started.Select(t => t.Join()).ToList();
    }

    /// <summary><paramref name="work"/> on every item at once, as <see cref="Map"/> does; returns when all have ended.</summary>
    public static void ForEach<TItem>(IEnumerable<TItem> items, Action<TItem> work) =>
        Map(items, item => { work(item); return true; });

    /// <summary>The task's result, or its own exception (not an AggregateException), as a direct call would throw.</summary>
    public static T Join<T>(this Task<T> task) => task.GetAwaiter().GetResult();

    private static void Dispatch(Action job)
    {
        lock (Gate)
        {
            if (Idle.Count > 0)
            {
                var worker = Idle[^1];
                Idle.RemoveAt(Idle.Count - 1);
                worker.Job = job;
                worker.Wake.Release();
                return;
            }
        }
        // None idle: a new thread, so that a read never waits behind another (a join inside a read cannot deadlock).
        var fresh = new Worker { Job = job };
        new Thread(fresh.Loop) { IsBackground = true, Name = "PgReplication read" }.Start();
    }

    private sealed class Worker
    {
        public readonly SemaphoreSlim Wake = new(0);
        public Action? Job;

        public void Loop()
        {
            while (true)
            {
                var job = Job!;
                Job = null;
                job();
                lock (Gate) Idle.Add(this);
                if (Wake.Wait(IdleLifetime)) continue;
                lock (Gate)
                {
                    // Timed out and still idle: end. Otherwise a job was handed over just now: its wake-up follows.
                    if (Idle.Remove(this)) return;
                }
                Wake.Wait();
            }
        }
    }
}
