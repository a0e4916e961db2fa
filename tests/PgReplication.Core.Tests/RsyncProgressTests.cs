using PgReplication.Core.Operations;

namespace PgReplication.Core.Tests;

/// <summary>Invoke-PgBaseBackup -Method Rsync's progress: rsync --info=progress2 lines read without a host.</summary>
public sealed class RsyncProgressTests
{
    [Fact]
    public void A_progress2_line_gives_bytes_percent_and_the_file_counts()
    {
        var p = RsyncCopy.ParseProgress("       30000005  99%  583.24MB/s    0:00:00 (xfr#3, to-chk=18/22)");
        Assert.Equal(new RsyncProgress(30000005, 99, 3, 18, 22), p);
        // Before the first file is sent rsync prints no counts; with incremental recursion it says ir-chk.
        Assert.Equal(new RsyncProgress(32768, 0, null, null, null), RsyncCopy.ParseProgress("          32768   0%    0.00kB/s    0:00:00  "));
        Assert.Equal(new RsyncProgress(1048576, 12, 7, 100, 250), RsyncCopy.ParseProgress("1048576  12%   1.00MB/s    0:01:23 (xfr#7, ir-chk=100/250)"));
    }

    [Fact]
    public void Thousands_separators_of_a_locale_are_read_as_digits()
    {
        Assert.Equal(30000000, RsyncCopy.ParseProgress("     30,000,000  99%  732.79MB/s    0:00:00 (xfr#1, to-chk=20/22)")!.Bytes);
        Assert.Equal(30000000, RsyncCopy.ParseProgress("     30.000.000  99%  732,79MB/s    0:00:00 (xfr#1, to-chk=20/22)")!.Bytes);
    }

    [Theory]
    [InlineData("Number of files: 22 (reg: 21, dir: 1)")]
    [InlineData("Total file size: 30,000,047 bytes")]
    [InlineData("sent 30,007,846 bytes  received 438 bytes  20,005,522.67 bytes/sec")]
    [InlineData("rsync: [sender] send_files failed to open \"/var/lib/postgresql/15/main/base/5/1249\": Permission denied (13)")]
    [InlineData("base/5/1249")]
    [InlineData("")]
    public void Other_lines_of_its_output_are_not_progress(string line)
    {
        Assert.Null(RsyncCopy.ParseProgress(line));
    }

    [Fact]
    public void The_status_says_MiB_files_and_the_mean_rate()
    {
        var status = RsyncCopy.ProgressStatus("data directory", new RsyncProgress(100L << 20, 40, 12, 300, 1500), 4);
        Assert.Equal("data directory: 100.0 MiB, 12 files sent, 1200 of 1500 looked at, 25.0 MiB/s", status);
        Assert.Equal("tablespace ts1: 1.0 MiB, 0.5 MiB/s", RsyncCopy.ProgressStatus("tablespace ts1", new RsyncProgress(1L << 20, 1, null, null, null), 2));
    }
}
