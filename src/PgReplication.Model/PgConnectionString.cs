namespace PgReplication.Core.Model;

/// <summary>The client library a connection string is written for.</summary>
public enum ConnectionStringFormat
{
    /// <summary>libpq keyword/value form (psql, psycopg, pg_dump, ...).</summary>
    Libpq,
    /// <summary>Npgsql's "Keyword=value;" form with its multi-host Host list.</summary>
    Npgsql,
    /// <summary>A pgJDBC URL.</summary>
    Jdbc,
}

/// <summary>Which of the listed servers a client accepts: how it finds the primary after a failover.</summary>
public enum TargetSessionAttribute
{
    /// <summary>A server that accepts writes by default (libpq read-write).</summary>
    ReadWrite,
    /// <summary>A server not in recovery.</summary>
    Primary,
    /// <summary>A server in recovery (hot standby).</summary>
    Standby,
    /// <summary>A standby if one answers, else any server.</summary>
    PreferStandby,
    /// <summary>The first server that answers.</summary>
    Any,
}

/// <summary>A connection string that names every node, so clients find the right one themselves.</summary>
public sealed class PgConnectionString
{
    public required ConnectionStringFormat Format { get; init; }
    public required TargetSessionAttribute TargetSessionAttribute { get; init; }
    /// <summary>The nodes in the order clients try them, as host:port ([v6]:port).</summary>
    public required string[] Hosts { get; init; }
    public required string ConnectionString { get; init; }

    /// <summary>The string itself, so "$(Get-PgConnectionString ...)" is what goes into a config file.</summary>
    public override string ToString() => ConnectionString;
}
