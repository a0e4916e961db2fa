<#
.SYNOPSIS
    Runs every Pester test of the repository in this (fresh) session and writes the counts as JSON.
    Called by build.ps1 -Task Test; tests find the built module through $env:PGREPLICATION_MODULE.
#>
param(
    [Parameter(Mandatory)] [string] $ModulePath,
    [Parameter(Mandatory)] [string] $PesterModules,
    [Parameter(Mandatory)] [string] $ResultPath,
    [string] $Tag,        # comma-separated (passed through a native command line)
    [string] $ExcludeTag,
    # The user asked to leave out the lab (every test tagged Acceptance); without it a lab test that cannot run here fails.
    [switch] $SkipLab
)
$ErrorActionPreference = 'Stop'
$env:PSModulePath = $PesterModules + [IO.Path]::PathSeparator + $env:PSModulePath
$env:PGREPLICATION_MODULE = $ModulePath
Import-Module Pester -RequiredVersion 6.2.0

$config = New-PesterConfiguration
$config.Run.Path = @($PSScriptRoot)
# Build output is not test source (a project's bin can hold copies of shipped *.Tests.ps1 files).
$config.Run.ExcludePath = @('*/bin/*', '*/obj/*')
$config.Run.PassThru = $true
$config.Output.Verbosity = 'Detailed'
$config.TestResult.Enabled = $true
$config.TestResult.OutputFormat = 'JUnitXml'
$config.TestResult.OutputPath = [IO.Path]::ChangeExtension($ResultPath, '.junit.xml')
if ($Tag) { $config.Filter.Tag = $Tag -split ',' }
$exclude = @($ExcludeTag -split ',' | Where-Object { $_ }) + @(if ($SkipLab) { 'Acceptance' })
if ($exclude) { $config.Filter.ExcludeTag = $exclude }

$result = Invoke-Pester -Configuration $config
# A container that failed to run at all (a syntax error, a throwing file) counts as a failure too.
$failedBlocks = @($result.FailedContainers).Count
# Names and first error lines of what failed, so the end of a CI log says which tests to look at.
$failures = @(
    foreach ($test in $result.Failed) {
        $message = @($test.ErrorRecord | ForEach-Object { "$_" }) -join ' ' -replace '\s+', ' '
        '{0}: {1}' -f $test.ExpandedPath, ($message.Substring(0, [Math]::Min(300, $message.Length)))
    }
    foreach ($container in $result.FailedContainers) { '{0}: the file did not run' -f $container.Item }
)
# And what was skipped, with the reason the test gave (Set-ItResult -Skipped -Because).
$skips = @(
    foreach ($test in $result.Skipped) {
        $reason = if ("$($test.ErrorRecord)" -match 'is skipped, because (.+)') { $Matches[1].Trim() } else { 'no reason given' }
        '{0}: {1}' -f $test.ExpandedPath, $reason
    }
)
[pscustomobject]@{
    Passed   = $result.PassedCount
    Failed   = $result.FailedCount + $failedBlocks
    Skipped  = $result.SkippedCount
    Failures = $failures
    Skips    = $skips
} | ConvertTo-Json | Set-Content -Path $ResultPath
