using Xunit;

namespace PgReplication.Core.Tests;

public sealed class ConcurrentlyTests
{
    [Fact]
    public void Map_runs_every_read_at_once_and_keeps_the_items_order()
    {
        // Each read waits until all four have started: run one after another, they would wait forever.
        using var allStarted = new Barrier(4);
        var results = Concurrently.Map(new[] { 1, 2, 3, 4 }, i =>
        {
            Assert.True(allStarted.SignalAndWait(TimeSpan.FromSeconds(10)), "the reads did not overlap");
            Thread.Sleep(10 * (5 - i));
            return i * 10;
        });
        Assert.Equal(new[] { 10, 20, 30, 40 }, results);
    }

    [Fact]
    public void Map_throws_the_first_failure_as_a_direct_call_would_after_every_read_ended()
    {
        var ended = 0;
        var error = Assert.Throws<InvalidOperationException>(() => Concurrently.Map(new[] { 1, 2, 3 }, i =>
        {
            Thread.Sleep(i == 3 ? 200 : 0);
            Interlocked.Increment(ref ended);
            return i == 1 ? throw new InvalidOperationException("first") : i == 2 ? throw new ArgumentException("second") : i;
        }));
        Assert.Equal("first", error.Message);
        Assert.Equal(3, ended);
    }

    [Fact]
    public void ForEach_returns_when_all_the_work_is_done()
    {
        var done = 0;
        Concurrently.ForEach(Enumerable.Range(0, 5), _ => { Thread.Sleep(20); Interlocked.Increment(ref done); });
        Assert.Equal(5, done);
    }
}
