# The version docs are generated: docs/versions.md and the supported-versions regions of README.md and
# about_PgReplication must be what tools/VersionDocs.psm1 writes from the built module's version rules and
# docs/matrix-results.json. A rule changed without `build.ps1 -Task Docs` fails here.
Describe 'The generated version docs' -Tag Surface {
    BeforeAll {
        Import-Module (Join-Path $env:PGREPLICATION_MODULE 'PgReplication.psd1') -Force
        Import-Module "$PSScriptRoot/../../tools/VersionDocs.psm1" -Force
        $docs = @(Get-VersionDocs)
    }

    It 'are up to date with the version rules and the last matrix run' {
        $docs.Count | Should -Be 3
        $stale = foreach ($doc in $docs) {
            if (-not (Test-Path $doc.Path) -or (Get-Content -Raw $doc.Path).Replace("`r", '') -ne $doc.Text) { $doc.Path }
        }
        $stale | Should -BeNullOrEmpty -Because 'build.ps1 -Task Docs regenerates them'
    }

    It 'list every version rule with the majors where it applies' {
        $versions = ($docs | Where-Object { $_.Path -like '*versions.md' }).Text
        foreach ($rule in [PgReplication.Core.Versions.VersionRules]::All) {
            $versions | Should -Match ([regex]::Escape("| $($rule.Name) | $($rule.Majors) |"))
        }
    }

    It 'give one supported-versions row per major, 10 to 18, in README and about_PgReplication' {
        $readme = ($docs | Where-Object { $_.Path -like '*README.md' }).Text
        $about = ($docs | Where-Object { $_.Path -like '*about_PgReplication.help.txt' }).Text
        foreach ($major in 10..18) {
            $readme | Should -Match "(?m)^\| $major \|"
            $about | Should -Match "(?m)^    $major\s"
        }
        $readme | Should -Match '\| 11 \| [^|]+ \| recovery\.conf \| pg_ctl promote \| restart \| wal_keep_segments \|'
        $readme | Should -Match '\| 13 \| [^|]+ \| standby\.signal \| pg_promote\(\) \| reload \| wal_keep_size \|'
    }
}
