using PgReplication.Core.Hosts;

namespace PgReplication.Core.Operations;

/// <summary>
/// The -OnPromoted hook given as a command line: run on this machine by sh, with the old and the new primary's names as
/// $1 and $2 (arguments, never spliced into the text), within five minutes. Its failure never undoes the promotion.
/// </summary>
public static class PromotedHook
{
    public static void RunCommandLine(string commandLine, string? oldPrimary, string newPrimary) =>
        new LocalShell().Run(new HostCommand("sh", "-c", commandLine, "sh", oldPrimary ?? "", newPrimary) { Timeout = TimeSpan.FromMinutes(5) })
            .EnsureSuccess();
}
