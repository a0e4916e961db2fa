namespace PgReplication.Core;

/// <summary>
/// Where a PostgreSQL server is reached: its own address, or the local end of an SSH tunnel to it. In the root namespace
/// because both Hosts (which makes tunnels) and Sql (which connects) use it, and neither should depend on the other.
/// </summary>
public sealed record PgEndpoint(string Host, int Port);
