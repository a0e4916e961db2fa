// Enums that cmdlet parameters take: part of the surface, so in this assembly (the default load context), under
// the namespaces they always had.
namespace PgReplication.Core.Operations
{
    /// <summary>How Invoke-PgBaseBackup copies the primary: pg_basebackup on the standby host, rsync with the backup API, tar streams with the backup API (resumable), or a restore from the pgBackRest repository.</summary>
    public enum BaseBackupMethod { PgBaseBackup, Rsync, Parallel, PgBackRest }
}

namespace PgReplication.Core.Config
{
    /// <summary>How synchronous standbys are chosen: the first N by priority, or any N (quorum).</summary>
    public enum SynchronousMode { First, Any }
}
