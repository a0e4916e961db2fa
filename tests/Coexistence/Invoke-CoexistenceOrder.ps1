<#
.SYNOPSIS
    One order of Coexistence.Tests.ps1, in a fresh pwsh (load contexts are per process): another module's Npgsql
    (an older major, from .cache/packages) loaded into the default context and used, and PgReplication imported and
    used against the local primary and standby, in the order asked; then each used once more. Writes one JSON object
    to -ResultPath: what each side answered and which Npgsql versions sit in which load context.
#>
param(
    [Parameter(Mandatory)] [ValidateSet('OtherFirst', 'PgReplicationFirst')] [string] $Order,
    # A 0600 JSON file: ModulePath, OtherNpgsql, OtherLogging (dll paths), PrimaryPort, StandbyPort, Password.
    [Parameter(Mandatory)] [string] $SpecPath,
    [Parameter(Mandatory)] [string] $ResultPath
)
$ErrorActionPreference = 'Stop'
$OtherLoaded = $false
$spec = Get-Content -Raw $SpecPath | ConvertFrom-Json
$result = [ordered]@{ Order = $Order; Steps = [Collections.Generic.List[string]]::new() }

function Use-OtherNpgsql([string] $Label) {
    if (-not $script:OtherLoaded) {
        # What another module that ships Npgsql 8 does at its import: its assemblies into the default context.
        Add-Type -Path $spec.OtherLogging
        Add-Type -Path $spec.OtherNpgsql
        $script:OtherLoaded = $true
    }
    $c = [Npgsql.NpgsqlConnection]::new("Host=127.0.0.1;Port=$($spec.PrimaryPort);Username=postgres;Password=$($spec.Password);Database=postgres;Pooling=false")
    try {
        $c.Open()
        $cmd = $c.CreateCommand(); $cmd.CommandText = 'SELECT pg_catalog.current_setting(''server_version_num'')'
        $result["Other$Label"] = [ordered]@{ Answer = "$($cmd.ExecuteScalar())"; Version = "$([Npgsql.NpgsqlConnection].Assembly.GetName().Version)" }
    }
    finally { $c.Dispose() }
    $result.Steps.Add("other Npgsql ($Label)")
}

function Use-PgReplication([string] $Label) {
    if (-not (Get-Module PgReplication)) { Import-Module (Join-Path $spec.ModulePath 'PgReplication.psd1') }
    $admin = [pscredential]::new('postgres', (ConvertTo-SecureString $spec.Password -AsPlainText -Force))
    $primary = New-PgNode -Local -Port $spec.PrimaryPort -Credential $admin -Name primary
    $standby = New-PgNode -Local -Port $spec.StandbyPort -Credential $admin -Name standby
    $health = @($primary, $standby | Test-PgReplication)
    $topology = @(Get-PgReplicationTopology $primary, $standby)
    $result["PgReplication$Label"] = [ordered]@{
        Roles    = @("$($primary.Role)", "$($standby.Role)")
        Healthy  = @($health | ForEach-Object IsHealthy)
        Failing  = @($health | ForEach-Object Failing)
        Statuses = @($topology | ForEach-Object Status)
    }
    $result.Steps.Add("PgReplication ($Label)")
}

try {
    if ($Order -eq 'OtherFirst') { Use-OtherNpgsql 'Before'; Use-PgReplication 'After'; Use-OtherNpgsql 'Again' }
    else { Use-PgReplication 'Before'; Use-OtherNpgsql 'After'; Use-PgReplication 'Again' }
}
catch { $result.Error = "$_ ($($_.FullyQualifiedErrorId))" }

# Where each Npgsql (and Core) was loaded: context name and assembly version.
$result.Contexts = @(foreach ($context in [Runtime.Loader.AssemblyLoadContext]::All) {
        foreach ($assembly in $context.Assemblies | Where-Object { $_.GetName().Name -in 'Npgsql', 'PgReplication.Core', 'PgReplication', 'PgReplication.Model' }) {
            '{0}: {1} {2}' -f $context.Name, $assembly.GetName().Name, $assembly.GetName().Version
        }
    })
$result | ConvertTo-Json -Depth 5 | Set-Content $ResultPath
