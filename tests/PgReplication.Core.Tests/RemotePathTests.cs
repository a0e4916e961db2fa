using Xunit;

namespace PgReplication.Core.Tests;

public class RemotePathTests
{
    [Theory]
    [InlineData(new[] { "/var/lib/postgresql/15/main", "standby.signal" }, "/var/lib/postgresql/15/main/standby.signal")]
    [InlineData(new[] { "/data/", "global", "pg_control" }, "/data/global/pg_control")]
    [InlineData(new[] { "/data", "/etc/pg_hba.conf" }, "/etc/pg_hba.conf")]
    [InlineData(new[] { "", "bin", "pg_ctl" }, "bin/pg_ctl")]
    [InlineData(new[] { "/usr/lib/postgresql/15/bin", "" }, "/usr/lib/postgresql/15/bin")]
    public void Joins_with_slashes_as_Path_Combine_does_on_Linux(string[] parts, string expected) =>
        Assert.Equal(expected, RemotePath.Join(parts));

    [Theory]
    [InlineData("/var/lib/postgresql/.pgpass", "/var/lib/postgresql")]
    [InlineData("/data/", "/")]
    [InlineData("/pgpass", "/")]
    [InlineData("pgpass", null)]
    public void Parent_is_the_folder_part(string path, string? expected) => Assert.Equal(expected, RemotePath.Parent(path));
}
