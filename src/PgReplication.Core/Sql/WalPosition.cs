namespace PgReplication.Core.Sql;

/// <summary>SQL for "how far this server's WAL goes", the same on a primary and on a cascade's upstream standby.</summary>
public static class WalPosition
{
    /// <summary>A primary's insert position; on a standby (feeding a cascade), what it has received.</summary>
    public const string Expression =
        "CASE WHEN pg_catalog.pg_is_in_recovery() THEN pg_catalog.pg_last_wal_receive_lsn() ELSE pg_catalog.pg_current_wal_lsn() END";
}
