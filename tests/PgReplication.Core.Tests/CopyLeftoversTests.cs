using PgReplication.Core.Operations;
using Xunit;

namespace PgReplication.Core.Tests;

/// <summary>Which processes an earlier copy left writing into the target: a rerun stops exactly those.</summary>
public class CopyLeftoversTests
{
    private static readonly string[] Targets = { "/var/lib/postgresql/15/main", "/srv/tblspc/fast/" };

    // One line per process as the host lists it: PID, where its standard output goes, its command line; \x1f between.
    private static string Line(int pid, string output, params string[] command) =>
        string.Join('\u001f', new[] { pid.ToString(System.Globalization.CultureInfo.InvariantCulture), output }.Concat(command)) + "\u001f\n";

    [Fact]
    public void A_parallel_copys_receivers_and_pg_basebackup_into_the_target_are_found()
    {
        var listing =
            Line(101, "/dev/null", "tar", "-C", "/var/lib/postgresql/15/main", "-xpf", "-") +
            Line(102, "/dev/null", "tar", "-C", "/srv/tblspc/fast", "-xpf", "-") +
            Line(103, "/var/lib/postgresql/15/main/base/5/16384", "cat") +
            Line(104, "pipe:[1234]", "/usr/lib/postgresql/15/bin/pg_basebackup", "-D", "/var/lib/postgresql/15/main/", "-X", "stream");
        Assert.Equal(new[] { 101, 102, 103, 104 }, CopyLeftovers.WritersInto(listing, Targets));
    }

    [Fact]
    public void Nothing_else_is_taken_for_a_leftover()
    {
        var listing =
            // An admin's own archive of the data directory (it reads; not the receiver's command line).
            Line(201, "/backup/main.tar", "tar", "-C", "/var/lib/postgresql/15/main", "-cf", "/backup/main.tar", ".") +
            // A receiver into another directory, one whose name only starts like the target.
            Line(202, "/dev/null", "tar", "-C", "/var/lib/postgresql/15/main2", "-xpf", "-") +
            Line(203, "/var/lib/postgresql/15/main2/PG_VERSION", "cat") +
            // cat with arguments, or writing to a terminal.
            Line(204, "/var/lib/postgresql/15/main/x", "cat", "/etc/hosts") +
            Line(205, "/dev/pts/0", "cat") +
            // pg_basebackup into another directory.
            Line(206, "pipe:[1]", "pg_basebackup", "-D", "/tmp/other") +
            "not a line\n" + "\n";
        Assert.Empty(CopyLeftovers.WritersInto(listing, Targets));
    }
}
