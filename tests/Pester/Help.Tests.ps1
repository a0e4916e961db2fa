# Every command's help against its real parameters, in the spirit of PSScriptAnalyzer's ModuleHelp tests; and the
# about topic: offline, complete (every ErrorId the sources raise), generated parts filled in.
BeforeDiscovery {
    $module = Import-Module (Join-Path $env:PGREPLICATION_MODULE 'PgReplication.psd1') -Force -PassThru
    $script:Commands = @($module.ExportedCommands.Values | Sort-Object Name | ForEach-Object {
            $help = Get-Help $_.Name -Full
            @{ Name = $_.Name; Command = $_; Help = $help; Examples = @($help.examples.example | ForEach-Object { @{ Title = $_.title; Code = $_.code; Name = $help.Name } }) }
        })
}

BeforeAll {
    # VersionRules is Core's, in the module's own load context: a copy in this session's default one for [type] names.
    Add-Type -Path (Join-Path $env:PGREPLICATION_MODULE 'Dependencies/PgReplication.Core.dll')
    $CommonParameters = [System.Management.Automation.PSCmdlet]::CommonParameters
    function Get-ParseErrors([string] $Code) {
        $errors = $null
        [System.Management.Automation.Language.Parser]::ParseInput($Code, [ref] $null, [ref] $errors) | Out-Null
        @($errors | ForEach-Object Message)
    }
}

Describe 'Help of <Name>' -Tag Surface -ForEach $Commands {
    BeforeAll {
        $codeParameters = @($Command.Parameters.Values | Where-Object { $_.Name -notin $CommonParameters })
        $helpParameters = @($Help.parameters.parameter)
    }

    It 'has a synopsis that is not the generated syntax' {
        $Help.Synopsis | Should -Not -BeNullOrEmpty
        $Help.Synopsis | Should -Not -Match "^\s*$([regex]::Escape($Name))\s+[\[-]" -Because 'Get-Help writes the syntax as the synopsis when there is no help'
    }

    It 'has a description' {
        ($Help.description.Text -join '').Trim() | Should -Not -BeNullOrEmpty
    }

    It 'has at least two examples, each with code and remarks' {
        @($Help.examples.example).Count | Should -BeGreaterOrEqual 2
        foreach ($example in $Help.examples.example) {
            $example.code | Should -Not -BeNullOrEmpty -Because $example.title
            ($example.remarks.Text -join '').Trim() | Should -Not -BeNullOrEmpty -Because $example.title
        }
    }

    It 'documents exactly the real parameters' {
        @($helpParameters.name | Sort-Object) | Should -Be @($codeParameters.Name | Sort-Object)
    }

    It 'describes each parameter, with its real type, Required and pipeline input' {
        foreach ($p in $codeParameters) {
            $h = $helpParameters | Where-Object name -EQ $p.Name
            ($h.description.Text -join '').Trim() | Should -Not -BeNullOrEmpty -Because "-$($p.Name) needs a description"
            $h.parameterValue | Should -Be $p.ParameterType.Name -Because "-$($p.Name) is a $($p.ParameterType.Name)"
            # Required in help: mandatory in every parameter set the parameter belongs to.
            $sets = @($Command.ParameterSets | ForEach-Object { $_.Parameters | Where-Object Name -EQ $p.Name })
            $mandatory = -not ($sets | Where-Object { -not $_.IsMandatory })
            $h.required | Should -Be $mandatory.ToString().ToLowerInvariant() -Because "-$($p.Name) Required"
            $byValue = [bool]($sets | Where-Object ValueFromPipeline)
            $byName = [bool]($sets | Where-Object ValueFromPipelineByPropertyName)
            $h.pipelineInput -like 'True*' | Should -Be ($byValue -or $byName) -Because "-$($p.Name) pipeline input"
            $h.pipelineInput -like '*ByValue*' | Should -Be $byValue -Because "-$($p.Name) by value"
            $h.pipelineInput -like '*ByPropertyName*' | Should -Be $byName -Because "-$($p.Name) by property name"
        }
    }

    It 'lists each [OutputType] under OUTPUTS' {
        $documented = @($Help.returnValues.returnValue | ForEach-Object { $_.type.name })
        foreach ($t in $Command.OutputType.Name) { $documented | Should -Contain $t }
    }

    It 'has related links' {
        @($Help.relatedLinks.navigationLink).Count | Should -BeGreaterThan 0
    }

    It 'says under NOTES which privileges it needs (issue 23: run without a superuser)' {
        $notes = (@($Help.alertSet.alert | ForEach-Object { $_.Text }) -join ' ')
        $notes | Should -Match 'Privileges: ' -Because 'an admin must know whether the admin role of New-PgAdminRole is enough'
    }
}

Describe 'Example "<Title>" of <Name>' -Tag Surface -ForEach @($Commands | ForEach-Object { $_.Examples }) {
    It 'has a first line that parses on its own' {
        Get-ParseErrors ($Code -split "`r?`n")[0] | Should -BeNullOrEmpty
    }

    It 'parses as a whole' {
        Get-ParseErrors $Code | Should -BeNullOrEmpty
    }
}

Describe 'Set-PgMasterConfig help' -Tag Surface {
    It 'lists each setting it manages with the majors where it applies, from VersionRules' {
        $text = (Get-Help Set-PgMasterConfig -Full).description.Text -join "`n"
        $settings = [PgReplication.Core.Versions.VersionRules]::All | Where-Object Kind -EQ 'Setting'
        $settings.Count | Should -BeGreaterThan 5
        foreach ($rule in $settings) {
            $text | Should -Match "(?m)^$([regex]::Escape($rule.Name))\s*\n\s+Majors: $([regex]::Escape($rule.Majors))" -Because $rule.Name
        }
        $text | Should -Not -Match '\{\{' -Because 'every placeholder is filled at build time'
    }
}

Describe 'about_PgReplication' -Tag Surface {
    BeforeAll {
        $About = (Get-Help about_PgReplication | Out-String)
        $File = Get-Content -Raw (Join-Path $env:PGREPLICATION_MODULE 'en-US/about_PgReplication.help.txt')
        $Sources = Join-Path $PSScriptRoot '../../src'
    }

    It 'is found by Get-Help, offline' {
        $About | Should -Match 'SHORT DESCRIPTION'
    }

    It 'has the concepts, the classic steps, the per-major rules and the topology' {
        foreach ($section in 'NODES', 'THE PIPELINE', 'ROLES', 'SECURITY DEFAULTS', 'WHAT DIFFERS PER POSTGRESQL MAJOR',
            'THE CLASSIC SETUP, STEP BY STEP', 'TOPOLOGY', 'ERRORS') {
            $File | Should -Match "(?m)^$([regex]::Escape($section))\s*$" -Because "the topic needs its $section section"
        }
        foreach ($rule in [PgReplication.Core.Versions.VersionRules]::All) { $File | Should -Match ([regex]::Escape($rule.Name)) }
        $File | Should -Not -Match '\{\{'
    }

    It 'documents every ErrorId the module raises' {
        # The ids passed to WriteNodeError/NodeError/ThrowArgumentError, and those written as "PgReplication.<Id>".
        $ids = foreach ($source in Get-ChildItem $Sources -Recurse -Filter '*.cs' | Where-Object FullName -NotMatch '[\\/](bin|obj)[\\/]') {
            $text = Get-Content -Raw $source.FullName
            foreach ($call in [regex]::Matches($text, '(?s)\b(?:WriteNodeError|NodeError|ThrowArgumentError)\((?!Exception exception)[^;]*;')) {
                [regex]::Matches($call.Value, '"([A-Z][A-Za-z]+)"') | ForEach-Object { $_.Groups[1].Value }
            }
            [regex]::Matches($text, '"PgReplication\.([A-Z][A-Za-z]+)"') | ForEach-Object { $_.Groups[1].Value }
            # A refusal's reason is an ErrorReasons constant (read below), never a string written at the throw.
            $text | Should -Not -Match '(RefusedException|TlsException|PasswordRotationException)\("' -Because "$($source.Name) must refuse with an ErrorReasons constant"
        }
        # The reasons Core refuses with, by reflection: each becomes PgReplication.<Reason> whatever cmdlet ran it.
        $ids += [PgReplication.Core.ErrorReasons].GetFields('Public, Static') | Where-Object IsLiteral | ForEach-Object { $_.GetValue($null) }
        $ids = @($ids | Sort-Object -Unique)
        $ids.Count | Should -BeGreaterThan 25 -Because 'the search must find the ids (if it finds few, it is broken)'
        foreach ($id in $ids) {
            $File | Should -Match "(?m)^    $id\s*\n\s+Cause: " -Because "PgReplication.$id needs its cause and fix under ERRORS"
        }
    }

    It 'fits 80 columns' {
        $File -split "`n" | Where-Object { $_.TrimEnd().Length -gt 80 } | Should -BeNullOrEmpty
    }
}
