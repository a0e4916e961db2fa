# The module surface: manifest, exported commands, naming and output types.
BeforeDiscovery {
    $script:ModuleDir = $env:PGREPLICATION_MODULE
    $script:Commands = @(Import-Module (Join-Path $ModuleDir 'PgReplication.psd1') -Force -PassThru).ExportedCmdlets.Values |
        ForEach-Object { @{ Name = $_.Name; Command = $_ } }
}

Describe 'The module manifest' -Tag Surface {
    BeforeAll {
        $ManifestPath = Join-Path $env:PGREPLICATION_MODULE 'PgReplication.psd1'
        $Manifest = Import-PowerShellDataFile $ManifestPath
    }

    It 'passes Test-ModuleManifest' {
        { Test-ModuleManifest -Path $ManifestPath -ErrorAction Stop } | Should -Not -Throw
    }

    It 'targets PowerShell 7.4 and the Core edition' {
        $Manifest.PowerShellVersion | Should -Be '7.4'
        $Manifest.CompatiblePSEditions | Should -Be @('Core')
    }

    It 'exports nothing by wildcard' {
        foreach ($key in 'CmdletsToExport', 'FunctionsToExport', 'VariablesToExport', 'AliasesToExport') {
            @($Manifest[$key]) -join ',' | Should -Not -Match '\*' -Because "$key must list names"
        }
    }

    It 'lists exactly the cmdlets the assembly defines' {
        $module = Import-Module $ManifestPath -Force -PassThru
        $defined = [System.Reflection.Assembly]::LoadFrom((Join-Path $env:PGREPLICATION_MODULE 'PgReplication.dll')).GetTypes() |
            Where-Object { $_.GetCustomAttributes([System.Management.Automation.CmdletAttribute], $false) } |
            ForEach-Object { $a = $_.GetCustomAttributes([System.Management.Automation.CmdletAttribute], $false)[0]; "$($a.VerbName)-$($a.NounName)" }
        @($Manifest.CmdletsToExport | Sort-Object) | Should -Be @($defined | Sort-Object)
        @($module.ExportedCmdlets.Keys | Sort-Object) | Should -Be @($defined | Sort-Object)
    }

    It 'imports by path from the built folder' {
        $module = Import-Module $ManifestPath -Force -PassThru
        $module.Name | Should -Be 'PgReplication'
        $module.ExportedCmdlets.Count | Should -BeGreaterThan 0
    }
}

Describe 'Cmdlet <Name>' -Tag Surface -ForEach $Commands {
    It 'uses an approved verb' {
        (Get-Verb).Verb | Should -Contain $Command.Verb
    }

    It 'has a singular noun starting with Pg' {
        $Command.Noun | Should -Match '^Pg[A-Z]'
        $Command.Noun | Should -Not -Match '(?<!s)s$' -Because 'nouns are singular'
    }

    It 'declares [OutputType]' {
        $Command.OutputType.Count | Should -BeGreaterThan 0
    }

    It 'has no plain-text password parameter' {
        foreach ($p in $Command.Parameters.Values) {
            # A switch such as -IncludePassword carries no secret itself.
            if ($p.Name -match 'Password|Secret|Passphrase' -and $p.ParameterType -ne [switch]) {
                $p.ParameterType | Should -BeIn @([pscredential], [securestring]) -Because "$($p.Name) carries a secret"
            }
        }
    }

    It 'supports -WhatIf when it changes anything' {
        if ($Command.Verb -in 'Get', 'Test', 'Find') { return }
        if ($Command.Name -eq 'New-PgNode') { return } # only creates an object in the session
        if ($Command.Name -eq 'Invoke-PgReplicationAcceptance') { return } # only reads the servers
        $Command.Parameters.Keys | Should -Contain 'WhatIf'
    }
}
