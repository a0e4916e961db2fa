# What the demo, the tests, the benchmark and the reliability suite need from the machine: the one list.
# build.ps1 dot-sources this file, and each task asks for what it runs (Get-PrerequisiteScope). As root on
# Debian, what is missing is installed (one apt-get update, one apt-get install); otherwise the task stops
# before any test with one message naming the packages and the command that installs them.
#
# What needs a package (For):
#   Demo    the demo's local clusters (-Task Demo)
#   Server  local PostgreSQL 15 clusters on 127.0.0.1: the xUnit cmdlet tests, the Pester kit (tag Kit) and the
#           coexistence test (tag Coexistence)
#   Sshd    the xUnit tests against a throwaway sshd on 127.0.0.1 (Category=Sshd); needs root
#   Lab     the lab of network-namespace hosts: Pester tag Acceptance, -Task Reliability, -Task Bench; needs root
#   Majors  the lab's hosts of the other majors (tag Majors)
#   Bench   the benchmark's contender (-Task Bench)
# A package is there when its Program is (a path, or a command on PATH): npm may come from elsewhere than Debian.
$Prerequisites = @(
    [pscustomobject]@{ Package = 'postgresql-15'; Program = '/usr/lib/postgresql/15/bin/initdb'; For = @('Demo', 'Server', 'Lab')
        Reason = 'PostgreSQL 15 (initdb, pg_ctl, psql, pg_createcluster): the demo''s and the tests'' clusters, every lab host' }
    [pscustomobject]@{ Package = 'openssh-server'; Program = '/usr/sbin/sshd'; For = @('Sshd', 'Lab')
        Reason = 'sshd: the xUnit SSH tests'' server on 127.0.0.1, and each lab host''s own' }
    [pscustomobject]@{ Package = 'rsync'; Program = 'rsync'; For = @('Server', 'Lab')
        Reason = 'Invoke-PgBaseBackup -Method Rsync (xUnit StandbyTests, the lab''s standbys of other majors)' }
    [pscustomobject]@{ Package = 'sudo'; Program = 'sudo'; For = @('Lab')
        Reason = 'the lab''s admin user runs commands as postgres with sudo, as on real hosts' }
    [pscustomobject]@{ Package = 'iproute2'; Program = 'ip'; For = @('Lab')
        Reason = '''ip netns'' and tc: the lab''s hosts, their links, and the slowed links of the fault suite' }
    [pscustomobject]@{ Package = 'pgbackrest'; Program = 'pgbackrest'; For = @('Lab')
        Reason = 'pgBackRest 2.45: Initialize-PgBackRest''s WAL archive on another lab host (Pester tag BackRest)' }
    [pscustomobject]@{ Package = 'npm'; Program = 'npm'; For = @('Majors')
        Reason = 'npm pack fetches the server builds of the other majors (Pester tag Majors)' }
    [pscustomobject]@{ Package = 'patroni'; Program = '/usr/bin/patroni'; For = @('Lab')
        Reason = 'Patroni 3.0: Enable-PgAutoFailover''s acceptance tests run it on the lab hosts' }
    [pscustomobject]@{ Package = 'etcd-server'; Program = '/usr/bin/etcd'; For = @('Lab')
        Reason = 'etcd 3.4: the consensus store Enable-PgAutoFailover starts on the lab hosts' }
    [pscustomobject]@{ Package = 'etcd-client'; Program = '/usr/bin/etcdctl'; For = @('Lab')
        Reason = 'etcdctl: Enable-PgAutoFailover checks the etcd cluster''s health with it' }
    [pscustomobject]@{ Package = 'curl'; Program = 'curl'; For = @('Lab')
        Reason = 'curl: the access checks of Patroni''s REST API from a lab host' }
    [pscustomobject]@{ Package = 'postgresql-15-repmgr'; Program = '/usr/lib/postgresql/15/bin/repmgr'; For = @('Bench')
        Reason = 'repmgr for PostgreSQL 15: the benchmark''s contender' }
)
# What needs root besides installing, and why.
$PrerequisiteRootScopes = [ordered]@{
    Lab  = 'the lab makes network namespaces, links and users'
    Sshd = 'the xUnit SSH tests start an sshd that logs in as root'
}
# Pester tags that need less than the lab; any other tag (Acceptance and its parts) is taken to need it.
$PrerequisiteLightTags = @{ Surface = @(); Kit = @('Server'); Coexistence = @('Server') }

# The scopes one task needs, as build.ps1 is asked to run it. -Tag picks Pester tests only: the xUnit projects
# run when no -Tag is given (without their Sshd tests under -SkipLab, which also leaves out tag Acceptance).
function Get-PrerequisiteScope {
    param([string] $Task, [string[]] $Tag, [string[]] $ExcludeTag, [switch] $SkipLab)
    switch ($Task) {
        'Demo' { return @('Demo') }
        'Bench' { return @('Lab', 'Bench') }
        'Reliability' { return @('Lab') }
        'Test' { }
        default { return @() }
    }
    $Tag = @($Tag | Where-Object { $_ })
    $ExcludeTag = @($ExcludeTag | Where-Object { $_ })
    $scope = [Collections.Generic.List[string]]::new()
    if (-not $Tag) {
        $scope.Add('Server')
        if (-not $SkipLab) { $scope.Add('Sshd') }
    }
    $pesterTags = if ($Tag) { $Tag } else { @('Surface', 'Kit', 'Acceptance') }
    foreach ($t in $pesterTags) {
        if ($t -in $ExcludeTag) { continue }
        if ($PrerequisiteLightTags.ContainsKey($t)) { $PrerequisiteLightTags[$t] | ForEach-Object { $scope.Add($_) } }
        elseif (-not $SkipLab -and 'Acceptance' -notin $ExcludeTag) {
            $scope.Add('Lab')
            if ($t -in 'Acceptance', 'Majors' -and 'Majors' -notin $ExcludeTag) { $scope.Add('Majors') }
        }
    }
    @($scope | Select-Object -Unique)
}

function Test-PrerequisiteProgram([string] $Program) {
    if ($Program.StartsWith('/')) { Test-Path -LiteralPath $Program -PathType Leaf }
    else { $null -ne (Get-Command $Program -CommandType Application -ErrorAction Ignore) }
}

function Get-MissingPrerequisite([string[]] $Scope) {
    @($Prerequisites | Where-Object { @($_.For | Where-Object { $_ -in $Scope }).Count -and -not (Test-PrerequisiteProgram $_.Program) })
}

function Test-RootUser { ($IsLinux -or $IsMacOS) -and "$(& id -u)".Trim() -eq '0' }
function Test-DebianMachine { (Test-Path /etc/debian_version) -and $null -ne (Get-Command apt-get -CommandType Application -ErrorAction Ignore) }

function Format-PrerequisiteLines($Missing) { @($Missing | ForEach-Object { '   {0,-21} {1}' -f $_.Package, $_.Reason }) }

function Get-PrerequisiteInstallCommand($Missing) {
    'apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ' + (@($Missing | ForEach-Object Package) -join ' ')
}

<#
.SYNOPSIS
    Makes this machine ready for the scopes, or says why it is not: $null when ready (after installing what was
    missing, as root on Debian), else the message to stop with. -IsRoot and -IsDebian default to the machine's.
#>
function Install-MissingPrerequisite {
    param([string] $Task, [string[]] $Scope, [bool] $IsRoot = (Test-RootUser), [bool] $IsDebian = (Test-DebianMachine))
    if (-not $Scope) { return $null }
    $missing = Get-MissingPrerequisite $Scope
    $rootReasons = @($PrerequisiteRootScopes.Keys | Where-Object { $_ -in $Scope } | ForEach-Object { $PrerequisiteRootScopes[$_] })
    if ($missing -and $IsRoot -and $IsDebian) {
        Write-Host "== Prerequisites: installing what -Task $Task needs (apt-get)" -ForegroundColor Cyan
        Format-PrerequisiteLines $missing | Write-Host
        $env:DEBIAN_FRONTEND = 'noninteractive'
        & apt-get update -qq | Out-Null
        if ($LASTEXITCODE -ne 0) { return "apt-get update failed with exit code $($LASTEXITCODE): nothing was installed." }
        & apt-get install -y -qq --no-install-recommends @($missing | ForEach-Object Package) | Out-Null
        if ($LASTEXITCODE -ne 0) { return "apt-get install failed with exit code $LASTEXITCODE." }
        $still = Get-MissingPrerequisite $Scope
        if ($still) { return (@("Still missing after apt-get install:") + (Format-PrerequisiteLines $still)) -join "`n" }
        return $null
    }
    $lines = [Collections.Generic.List[string]]::new()
    if ($missing) {
        $why = if (-not $IsDebian) { 'and build.ps1 installs them only on Debian (no /etc/debian_version or no apt-get here)' }
        else { 'and installing them needs root' }
        $lines.Add("-Task $Task cannot run on this machine: it needs these packages, $($why):")
        Format-PrerequisiteLines $missing | ForEach-Object { $lines.Add($_) }
        $lines.Add($(if ($IsDebian) { 'Install them as root, then run it again:' } else { 'On Debian this installs them (elsewhere, install their equivalents):' }))
        $lines.Add('   ' + (Get-PrerequisiteInstallCommand $missing))
    }
    if ($rootReasons -and -not $IsRoot) {
        $lines.Add("-Task $Task $(if ($missing) { 'also ' })needs root: $($rootReasons -join '; ').")
    }
    if (-not $lines.Count) { return $null }
    if ($Task -eq 'Test' -and $rootReasons) {
        $lines.Add('Or ask for less: -SkipLab leaves out the lab and the xUnit sshd tests (no root; postgresql-15 and rsync), -Tag Surface needs nothing.')
    }
    $lines -join "`n"
}
