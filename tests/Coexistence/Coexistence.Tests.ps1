# PgReplication beside another module that ships another Npgsql (issue 23): in one pwsh, Npgsql 8 in the default load
# context (as a module that ships it puts it there) and PgReplication, whose Npgsql 10 and SSH.NET live in a load
# context of their own, each used against a real primary and standby on 127.0.0.1, in both orders. Before the
# module had its own context, one order failed at New-PgNode (Npgsql 8.0.0.0 already loaded where Core wanted
# 10.0.0.0) and the other at Add-Type (an assembly of that name already loaded).
# The other Npgsql comes from NuGet through tests/Coexistence/OtherNpgsql.Download.csproj, restored here.
Describe 'PgReplication beside another Npgsql in one pwsh' -Tag Coexistence {
    BeforeDiscovery {
        $Orders = @(@{ Order = 'OtherFirst' }, @{ Order = 'PgReplicationFirst' })
    }
    BeforeAll {
        $BinDirectory = '/usr/lib/postgresql/15/bin'
        if (-not (Test-Path "$BinDirectory/initdb")) { throw "PostgreSQL 15 is not installed ($BinDirectory/initdb is missing: Debian's postgresql-15)." }
        $repo = [IO.Path]::GetFullPath((Join-Path $PSScriptRoot '../..'))
        & dotnet restore (Join-Path $PSScriptRoot 'OtherNpgsql.Download.csproj') --nologo -v q
        if ($LASTEXITCODE -ne 0) { throw "dotnet restore of OtherNpgsql.Download.csproj failed ($LASTEXITCODE): the other Npgsql is needed." }
        $packages = Join-Path $repo '.cache/packages'
        $OtherNpgsql = Join-Path $packages 'npgsql/8.0.9/lib/net8.0/Npgsql.dll'
        $OtherLogging = Join-Path $packages 'microsoft.extensions.logging.abstractions/8.0.0/lib/net8.0/Microsoft.Extensions.Logging.Abstractions.dll'

        Import-Module (Join-Path $env:PGREPLICATION_MODULE 'PgReplication.psd1') -Force
        Import-Module (Join-Path $PSScriptRoot '../LocalCluster.psm1') -Force
        $Clusters = New-LocalClusterRoot 'pgrepl-coexist'
        $pair = New-LocalStreamingPair -Root $Clusters.Root -BinDirectory $BinDirectory

        # The child sessions read the password from a file only this user can read, not from their command line.
        $SpecPath = Join-Path $Clusters.Root 'coexistence.json'
        New-Item -ItemType File $SpecPath | Out-Null
        chmod 600 $SpecPath
        @{ ModulePath = $env:PGREPLICATION_MODULE; OtherNpgsql = $OtherNpgsql; OtherLogging = $OtherLogging
            PrimaryPort = $pair.PrimaryPort; StandbyPort = $pair.StandbyPort; Password = $pair.Password } | ConvertTo-Json | Set-Content $SpecPath
    }

    AfterAll {
        if ($Clusters) { Remove-LocalClusterRoot $Clusters.Root $BinDirectory }
    }

    It '<Order>: both work, each with its own Npgsql' -ForEach $Orders {
        $resultPath = Join-Path $Clusters.Root "$Order.json"
        $out = & (Join-Path $PSHOME 'pwsh') -NoProfile -NonInteractive -File (Join-Path $PSScriptRoot 'Invoke-CoexistenceOrder.ps1') -Order $Order -SpecPath $SpecPath -ResultPath $resultPath
        $LASTEXITCODE | Should -Be 0 -Because "$out"
        $r = Get-Content -Raw $resultPath | ConvertFrom-Json
        $r.PSObject.Properties.Name | Should -Not -Contain 'Error' -Because "$($r.Error)"
        $r.Steps.Count | Should -Be 3

        foreach ($other in $r.PSObject.Properties | Where-Object Name -Like 'Other*') {
            $other.Value.Version | Should -BeLike '8.0.*' -Because "$($other.Name): the other module's Npgsql is the one its code gets"
            $other.Value.Answer | Should -Match '^15\d{4}$'
        }
        foreach ($ours in $r.PSObject.Properties | Where-Object Name -Like 'PgReplication*') {
            $ours.Value.Roles | Should -Be @('Primary', 'Standby') -Because "$($ours.Name): New-PgNode discovers both"
            $ours.Value.Healthy | Should -Be @($true) -Because "$($ours.Name): Test-PgReplication: $($ours.Value.Failing)"
            $ours.Value.Statuses | Should -Be @('running', 'running') -Because "$($ours.Name): Get-PgReplicationTopology"
        }
        # The default context has only the other Npgsql, the cmdlets and the model; ours and Core are in the module's.
        $r.Contexts | Should -Contain 'Default: Npgsql 8.0.9.0'
        $r.Contexts | Should -Contain 'Default: PgReplication 0.1.0.0'
        $r.Contexts | Should -Contain 'Default: PgReplication.Model 0.1.0.0'
        $r.Contexts | Should -Contain 'PgReplication: PgReplication.Core 0.1.0.0'
        @($r.Contexts | Where-Object { $_ -like 'PgReplication: Npgsql 10.*' }).Count | Should -Be 1
        @($r.Contexts | Where-Object { $_ -like 'Default: PgReplication.Core*' -or $_ -like 'Default: Npgsql 10.*' }) | Should -BeNullOrEmpty
    }
}
