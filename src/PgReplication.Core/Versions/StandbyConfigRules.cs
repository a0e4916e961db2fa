namespace PgReplication.Core.Versions;

/// <summary>Where a standby's recovery settings live, by major: the rules of <see cref="VersionRules"/> as questions.</summary>
public static class StandbyConfigRules
{
    /// <summary>From 12: standby.signal, and recovery settings are server settings (postgresql.auto.conf); before: recovery.conf with standby_mode.</summary>
    public static bool UsesStandbySignal(int major) => VersionRules.Applies(VersionRules.StandbySignal, major);

    /// <summary>From 13 a changed primary_conninfo is taken on reload; before, the server must restart.</summary>
    public static bool ReloadsPrimaryConninfo(int major) => VersionRules.Applies(VersionRules.PrimaryConninfoReload, major);

    /// <summary>
    /// The wait event pg_stat_activity shows while a standby's startup process sleeps out wal_retrieve_retry_interval:
    /// RecoveryRetrieveRetryInterval from 13, RecoveryWalStream before (a name 13 gave to the wait for streamed WAL).
    /// </summary>
    public static string RetrieveRetryWaitEvent(int major) =>
        VersionRules.Applies(VersionRules.RetrieveRetryWaitEvent, major) ? "RecoveryRetrieveRetryInterval" : "RecoveryWalStream";
}
