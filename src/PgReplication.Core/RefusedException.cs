using PgReplication.Core.Model;

namespace PgReplication.Core;

/// <summary>
/// A refusal whose reason is known: <see cref="Reason"/> (one of <see cref="ErrorReasons"/>) becomes the ErrorId
/// (PgReplication.&lt;Reason&gt;) whatever cmdlet ran it, so a script can tell "the target is the primary's own directory"
/// from "the directory is not empty" without reading the message. Thrown before anything was changed, unless the message
/// says otherwise.
/// </summary>
public class RefusedException : InvalidOperationException
{
    public RefusedException(string reason, string message, PgNode? node = null, Exception? inner = null) : base(message, inner) { Reason = reason; Node = node; }
    public string Reason { get; }
    public PgNode? Node { get; }
}

/// <summary>
/// The reasons Core refuses with (the help test reads these by reflection: each must be documented in
/// about_PgReplication). One per refusal a user can act on differently.
/// </summary>
public static class ErrorReasons
{
    // What only a superuser may do, asked of a role that is not one (issue 23: the daily-work admin role).
    public const string SuperuserRequired = nameof(SuperuserRequired);
    public const string AlterSystemNeedsSuperuser = nameof(AlterSystemNeedsSuperuser);
    public const string CheckpointNeedsSuperuser = nameof(CheckpointNeedsSuperuser);
    // The data directory guard (Invoke-PgBaseBackup, Enable-PgHotStandby, Restore-PgStandby).
    public const string TargetIsSourcePrimary = nameof(TargetIsSourcePrimary);
    public const string TargetIsRunningPrimary = nameof(TargetIsRunningPrimary);
    public const string TargetIsOtherMajor = nameof(TargetIsOtherMajor);
    public const string TargetHoldsDataDirectories = nameof(TargetHoldsDataDirectories);
    public const string TargetNotEmpty = nameof(TargetNotEmpty);
    public const string GuessedPathNotOurs = nameof(GuessedPathNotOurs);
    // Invoke-PgBaseBackup's preflight.
    public const string SourceNotPrimary = nameof(SourceNotPrimary);
    public const string VersionMismatch = nameof(VersionMismatch);
    public const string ArchitectureMismatch = nameof(ArchitectureMismatch);
    // Invoke-PgBaseBackup -Method PgBackRest: no repository for the cluster, the standby's host not set up for it, no backup of the cluster.
    public const string NoBackRestRepository = nameof(NoBackRestRepository);
    public const string BackRestStandbyNotSetUp = nameof(BackRestStandbyNotSetUp);
    public const string NoBackRestBackup = nameof(NoBackRestBackup);
    // Restore-PgStandby: pg_rewind failed, or an interrupted one left the directory half-rewound (-AllowReclone).
    public const string RewindFailed = nameof(RewindFailed);
    public const string HalfRewound = nameof(HalfRewound);
    // A rewind needs pg_rewind of the cluster's major on the former primary's host (upstream server-only builds have none).
    public const string RewindProgramMissing = nameof(RewindProgramMissing);
    // A control file read without pg_controldata (ControlData.Decode): unknown layout, another version, a bad CRC.
    public const string ControlFileUnreadable = nameof(ControlFileUnreadable);
    // Enable-PgAutoFailover's checks (and Invoke-PgPromotion on a cluster Patroni manages).
    public const string PackageMissing = nameof(PackageMissing);
    public const string NoPrimary = nameof(NoPrimary);
    public const string TwoPrimaries = nameof(TwoPrimaries);
    public const string OtherCluster = nameof(OtherCluster);
    public const string DuplicateMember = nameof(DuplicateMember);
    public const string BadTiming = nameof(BadTiming);
    public const string NoReplicationRole = nameof(NoReplicationRole);
    public const string RestApiPasswordNotAscii = nameof(RestApiPasswordNotAscii);
    public const string ManagedByPatroni = nameof(ManagedByPatroni);
    // The manual cmdlets on a cluster Patroni manages: a setting Patroni owns per member, a reinitialisation of its leader.
    public const string PatroniOwnsSetting = nameof(PatroniOwnsSetting);
    public const string PatroniLeader = nameof(PatroniLeader);
    // Invoke-PgBaseBackup with a slot on a cluster whose Patroni runs with use_slots off: it drops every slot it does not manage.
    public const string PatroniSlotsOff = nameof(PatroniSlotsOff);
    // Invoke-PgBaseBackup: where a tablespace goes on the standby.
    public const string TablespaceSharedWithPrimary = nameof(TablespaceSharedWithPrimary);
    public const string TablespaceNotEmpty = nameof(TablespaceNotEmpty);
    // Invoke-PgPromotion and Invoke-PgSwitchover.
    public const string NoCandidate = nameof(NoCandidate);
    public const string NotAStandby = nameof(NotAStandby);
    public const string NotPrimary = nameof(NotPrimary);
    public const string PrimaryStillAlive = nameof(PrimaryStillAlive);
    public const string SplitBrain = nameof(SplitBrain);
    public const string CandidateBehind = nameof(CandidateBehind);
    public const string OnlyDelayedCandidates = nameof(OnlyDelayedCandidates);
    public const string StandbyNotStreaming = nameof(StandbyNotStreaming);
    public const string NotSynchronous = nameof(NotSynchronous);
    public const string FailoverSlotsNotSynced = nameof(FailoverSlotsNotSynced);
    public const string FollowerNotAdmitted = nameof(FollowerNotAdmitted);
    public const string ReplicationLoginRefused = nameof(ReplicationLoginRefused);
    // Set-PgStandbyUpstream (and the follow of promotion, switchover): the standby's history forked past the upstream's.
    public const string TimelineDiverged = nameof(TimelineDiverged);
    // Remove-PgStandby and Remove-PgReplicationSlot.
    public const string DataDirectoryRefused = nameof(DataDirectoryRefused);
    public const string DataDirectoryUnknown = nameof(DataDirectoryUnknown);
    public const string SyncUnsatisfiable = nameof(SyncUnsatisfiable);
    public const string SlotActive = nameof(SlotActive);
    public const string SlotInOtherDatabase = nameof(SlotInOtherDatabase);
    // Suspend-/Resume-PgStandbyReplay and Set-PgStandbyApplyDelay.
    public const string BadApplyDelay = nameof(BadApplyDelay);
    // Set-PgReplicationPassword and Enable-PgReplicationSsl: the whole cluster, given as its nodes.
    public const string NoSinglePrimary = nameof(NoSinglePrimary);
    public const string UnknownStandby = nameof(UnknownStandby);
    public const string RoleMissing = nameof(RoleMissing);
    public const string PasswordInConninfo = nameof(PasswordInConninfo);
    public const string OpensslMissing = nameof(OpensslMissing);
    public const string NoReplicationUser = nameof(NoReplicationUser);
    public const string UpstreamNotGiven = nameof(UpstreamNotGiven);
    public const string NoReplicationCredential = nameof(NoReplicationCredential);
    public const string TlsNotServed = nameof(TlsNotServed);
}
