namespace PgReplication.Core.Versions;

/// <summary>Where a standby's recovery settings live, by major (PostgreSQL 12 release notes, E.x "recovery.conf is gone").</summary>
public static class StandbyConfigRules
{
    /// <summary>From 12: standby.signal plus primary_conninfo in postgresql.auto.conf; before: recovery.conf with standby_mode.</summary>
    public static bool UsesStandbySignal(int major) => major >= 12;

    /// <summary>From 13 a changed primary_conninfo is taken on reload; before, the server must restart.</summary>
    public static bool ReloadsPrimaryConninfo(int major) => major >= 13;
}
