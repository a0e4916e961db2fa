@{
    RootModule        = 'PgLab.psm1'
    ModuleVersion     = '1.0.0'
    GUID              = '5b0f2f7e-3c1d-4d55-9a57-2f1f3f0c8a61'
    Author            = 'PgReplication'
    Description       = 'The test lab: real hosts (Linux network namespaces) with their own sshd and PostgreSQL (15, or any major 10 to 18), for acceptance tests and benchmarks.'
    PowerShellVersion = '7.4'
    FunctionsToExport = @(
        'Test-PgLabSupported'
        'New-PgLab'
        'Get-PgLab'
        'Remove-PgLab'
        'Invoke-PgLabCommand'
        'Invoke-PgLabSql'
        'Wait-PgLabSql'
        'Test-PgLabPostgres'
        'Stop-PgLabPostgres'
        'Start-PgLabPostgres'
        'Disconnect-PgLabHost'
        'Connect-PgLabHost'
        'Suspend-PgLabHost'
        'Resume-PgLabHost'
        'Reset-PgLabHostKey'
        'Install-PgLabMajor'
    )
    CmdletsToExport   = @()
    VariablesToExport = @()
    AliasesToExport   = @()
}
