@{
    RootModule           = 'PgReplication.dll'
    ModuleVersion        = '0.1.0'
    GUID                 = '3f6b8f0e-5d0a-4c59-9a57-2f0d6c1b7e41'
    Author               = 'PgReplication developers'
    CompanyName          = 'PgReplication'
    Copyright            = '(c) PgReplication developers. MIT License.'
    Description          = 'Sets up, checks and fails over PostgreSQL streaming replication on real hosts: compiled cmdlets that pass node objects along the pipeline.'
    PowerShellVersion    = '7.4'
    CompatiblePSEditions = @('Core')
    FormatsToProcess     = @('PgReplication.format.ps1xml')
    # Every cmdlet by name: no wildcards, so the module surface is exactly what is reviewed.
    CmdletsToExport      = @(
        'New-PgNode'
        'New-PgReplicationUser'
        'Set-PgMasterConfig'
        'Invoke-PgBaseBackup'
        'Enable-PgHotStandby'
        'Test-PgReplication'
        'Invoke-PgPromotion'
        'Set-PgStandbyUpstream'
        'Invoke-PgSwitchover'
        'Restore-PgStandby'
        'Initialize-PgBackRest'
        'Get-PgConnectionString'
        'Get-PgReplicationTopology'
        'Invoke-PgReplicationAcceptance'
        'Set-PgReplicationPassword'
        'Enable-PgAutoFailover'
        'Disable-PgAutoFailover'
        'Get-PgReplicationSlot'
        'Remove-PgReplicationSlot'
        'Suspend-PgStandbyReplay'
        'Resume-PgStandbyReplay'
        'Set-PgStandbyDelay'
        'Remove-PgStandby'
        'New-PgAdminRole'
        'Enable-PgReplicationSsl'
    )
    FunctionsToExport    = @()
    VariablesToExport    = @()
    AliasesToExport      = @()
    PrivateData          = @{
        PSData = @{
            Tags       = @('PostgreSQL', 'Replication', 'HotStandby', 'Failover', 'Linux')
            ProjectUri = ''
        }
    }
}
