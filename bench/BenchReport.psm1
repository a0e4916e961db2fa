# From the rounds to the published figures: min, median and max of each contender's runs, ratios paired by
# round, the issue's targets marked met or missed, the completeness check of -Quick, and docs/benchmarks.md.
Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'
$script:Invariant = [Globalization.CultureInfo]::InvariantCulture

function Get-BenchStats {
    param([double[]] $Values)
    if ($null -eq $Values -or $Values.Count -eq 0) { return $null }
    $s = [double[]] @($Values | Sort-Object)
    $n = $s.Count
    $median = if ($n % 2) { $s[($n - 1) / 2] } else { ($s[$n / 2 - 1] + $s[$n / 2]) / 2 }
    [pscustomobject]@{ Median = $median; Min = $s[0]; Max = $s[-1]; Count = $n }
}

# The figure of each successful round, in round order.
function Get-BenchValues($Contender, [string] $Metric) {
    [double[]] @($Contender.Rounds | Where-Object { $null -ne $_ -and $_.ContainsKey($Metric) } | ForEach-Object { [double] $_[$Metric] })
}

# Of / To for every round where both have the figure: drift between rounds hits both sides of a pair.
function Get-BenchPairRatios($Of, $To, [string] $Metric) {
    $n = [Math]::Min($Of.Rounds.Count, $To.Rounds.Count)
    [double[]] @(for ($i = 0; $i -lt $n; $i++) {
            $a = $Of.Rounds[$i]; $b = $To.Rounds[$i]
            if ($a -and $b -and $a.ContainsKey($Metric) -and $b.ContainsKey($Metric) -and [double] $b[$Metric] -gt 0) { [double] $a[$Metric] / [double] $b[$Metric] }
        })
}

function Find-BenchContender($Case, [string] $Key) { $Case.Contenders | Where-Object Key -EQ $Key | Select-Object -First 1 }

function Get-BenchMedian($Cases, [string] $CaseId, [string] $Key, [string] $Metric) {
    $case = $Cases | Where-Object Id -EQ $CaseId | Select-Object -First 1
    if (-not $case) { return $null }
    $c = Find-BenchContender $case $Key
    if (-not $c) { return $null }
    $stats = Get-BenchStats (Get-BenchValues $c $Metric)
    if ($stats) { $stats.Median } else { $null }
}

function Format-BenchNumber([double] $Value, [string] $Unit) {
    $format = switch ($Unit) { 's' { '{0:0.000}' } 'count' { '{0:0}' } 'MB' { '{0:0.0}' } default { '{0:0.00}' } }
    [string]::Format($script:Invariant, $format, $Value)
}

function Format-BenchRatio([double] $Value) { [string]::Format($script:Invariant, '{0:0.00} x', $Value) }

function Get-BenchSummary {
    <# The cases with their computed figures and ratios added (what the JSON and the markdown show). #>
    param([Parameter(Mandatory)] [object[]] $Cases)
    foreach ($case in $Cases) {
        $figures = foreach ($c in $case.Contenders) {
            $failed = -not ($c.Rounds | Where-Object { $_ })
            # A contender that never succeeded gets one row, saying why.
            foreach ($metric in @($case.Figures.Keys | Select-Object -First $(if ($failed) { 1 } else { $case.Figures.Count }))) {
                $stats = Get-BenchStats (Get-BenchValues $c $metric)
                if ($stats -or $failed) {
                    [pscustomobject]@{ Contender = $c.Key; Metric = $metric; Stats = $stats; Runs = "$(if ($stats) { $stats.Count } else { 0 })/$($c.Rounds.Count)" }
                }
            }
        }
        $ratios = foreach ($r in $case.Ratios) {
            $of = Find-BenchContender $case $r.Of; $to = Find-BenchContender $case $r.To
            if ($of -and $to) { [pscustomobject]@{ Metric = $r.Metric; Of = $r.Of; To = $r.To; Stats = (Get-BenchStats (Get-BenchPairRatios $of $to $r.Metric)) } }
        }
        $case | Add-Member -Force -NotePropertyName Summary -NotePropertyValue @($figures)
        $case | Add-Member -Force -NotePropertyName RatioSummary -NotePropertyValue @($ratios)
        $case
    }
}

function Test-BenchTarget {
    <#
    .SYNOPSIS
        One target of the issue against the figures. Kinds: Ratio (median of the pairwise ratios Of/To <= Limit),
        RatioEvery (every pairwise ratio Of/To <= Limit: the largest is the value), Absolute (median <= Limit),
        Growth (median of Case / median of Base <= Limit), Zero (no run above 0).
    #>
    param([Parameter(Mandatory)] [hashtable] $Target, [Parameter(Mandatory)] [object[]] $Cases)
    $case = $Cases | Where-Object Id -EQ $Target.Case | Select-Object -First 1
    $measured = $null; $value = $null
    if ($case) {
        $of = Find-BenchContender $case $Target.Of
        switch ($Target.Kind) {
            'Ratio' {
                $to = Find-BenchContender $case $Target.To
                $stats = if ($of -and $to) { Get-BenchStats (Get-BenchPairRatios $of $to $Target.Metric) }
                if ($stats) { $value = $stats.Median; $measured = "$(Format-BenchRatio $stats.Median) (pairs $(Format-BenchRatio $stats.Min) to $(Format-BenchRatio $stats.Max))" }
            }
            'RatioEvery' {
                $to = Find-BenchContender $case $Target.To
                $pairs = @(if ($of -and $to) { Get-BenchPairRatios $of $to $Target.Metric })
                if ($pairs.Count) {
                    $value = ($pairs | Measure-Object -Maximum).Maximum
                    $rounds = [Math]::Min($of.Rounds.Count, $to.Rounds.Count)
                    $measured = "at most $(Format-BenchRatio $value) (round by round: $(($pairs | ForEach-Object { Format-BenchRatio $_ }) -join ', ')$(if ($pairs.Count -lt $rounds) { "; $($rounds - $pairs.Count) of $rounds rounds without a pair" }))"
                    # A round without both figures is a round not shown to be within the limit.
                    if ($pairs.Count -lt $rounds) { $value = [double]::MaxValue }
                }
            }
            'Absolute' {
                $stats = if ($of) { Get-BenchStats (Get-BenchValues $of $Target.Metric) }
                if ($stats) { $value = $stats.Median; $measured = "$(Format-BenchNumber $stats.Median $Target.Unit) $($Target.Unit) (runs $(Format-BenchNumber $stats.Min $Target.Unit) to $(Format-BenchNumber $stats.Max $Target.Unit))" }
            }
            'Growth' {
                $top = Get-BenchMedian $Cases $Target.Case $Target.Of $Target.Metric
                $base = Get-BenchMedian $Cases $Target.Base $Target.Of $Target.Metric
                if ($null -ne $top -and $base) { $value = $top / $base; $measured = "$(Format-BenchRatio $value) ($(Format-BenchNumber $top 's') s / $(Format-BenchNumber $base 's') s)" }
            }
            'Zero' {
                $stats = if ($of) { Get-BenchStats (Get-BenchValues $of $Target.Metric) }
                if ($stats) { $value = $stats.Max; $measured = "$(Format-BenchNumber $stats.Max 'count') at most, over $($stats.Count) runs" }
            }
        }
    }
    $limit = if ($Target.Kind -eq 'Zero') { 0 } else { $Target.Limit }
    [pscustomobject]@{
        Text = $Target.Text; Case = $Target.Case; Measured = $measured; Value = $value; Limit = $limit
        Result = if ($null -eq $value) { 'not measured' } elseif ($value -le $limit) { 'met' } else { 'missed' }
    }
}

function Get-BenchProblems {
    <# What makes a run incomplete: a case that did not run, a contender without a figure; with -Strict any failed round. #>
    param([Parameter(Mandatory)] [object[]] $Cases, [string[]] $Expected = @(), [switch] $Strict)
    foreach ($id in $Expected) { if (-not ($Cases | Where-Object Id -EQ $id)) { "case ${id}: not run" } }
    foreach ($case in $Cases) {
        if ($case.PSObject.Properties['Error'] -and $case.Error) { "case $($case.Id): failed: $($case.Error)" }
        foreach ($c in $case.Contenders) {
            $missing = @($case.Figures.Keys | Where-Object { $m = $_; -not ($c.Rounds | Where-Object { $_ -and $_.ContainsKey($m) }) })
            if (-not ($c.Rounds | Where-Object { $_ })) { "$($case.Id) / $($c.Name): failed: $(@($c.Errors)[0])" }
            elseif ($Strict -and $c.Errors.Count) { foreach ($e in $c.Errors) { "$($case.Id) / $($c.Name): $e" } }
            elseif ($missing.Count -eq $case.Figures.Count) { "$($case.Id) / $($c.Name): no figure" }
        }
    }
}

# The round whose first figure is the median one: its profile is the one shown.
function Get-MedianProfile($Case, [string] $Key) {
    $c = Find-BenchContender $Case $Key
    if (-not $c) { return $null }
    $metric = @($Case.Figures.Keys)[0]
    $rounds = @($c.Rounds | Where-Object { $_ -and $_.ContainsKey($metric) -and $_.ContainsKey('Profile') })
    if (-not $rounds) { return $null }
    $median = (Get-BenchStats (Get-BenchValues $c $metric)).Median
    $rounds | Sort-Object { [Math]::Abs([double] $_[$metric] - $median) } | Select-Object -First 1
}

function ConvertTo-BenchMarkdown {
    <# docs/benchmarks.md from a finished run (Get-BenchSummary cases, evaluated targets). #>
    param([Parameter(Mandatory)] $Run)
    $m = $Run.Machine
    $sb = [Text.StringBuilder]::new()
    $line = { param([string] $Text = '') $null = $sb.AppendLine($Text) }
    & $line '# Benchmarks'
    & $line
    & $line "Generated by ``$($Run.Command)`` (bench/Invoke-PgBenchmark.ps1) on $($m.Date), in $([string]::Format($script:Invariant, '{0:0.0}', $Run.DurationMinutes)) minutes. Do not edit: run it again."
    & $line "Each figure is the median of $($Run.Runs) run$(if ($Run.Runs -gt 1) { 's' }) (more where the Runs column says so) with the minimum and maximum; the contenders of a case run in turn, the order reversed every other round (A B C, C B A, ...), on the same lab, and each ratio is taken within a round, then its median given. Warm: the cmdlets run in the bench's own pwsh with the module imported (an admin's shell, an automation host); cold: a fresh ``dotnet pwsh -NoProfile -c`` that imports the module and builds its nodes with ``New-PgNode`` (a scheduled task). Targets are for warm figures. See bench/README.md for the harness."
    & $line
    & $line '| Machine | |'
    & $line '| --- | --- |'
    & $line "| CPU | $($m.Cpu), $($m.Processors) processors (nproc) |"
    & $line "| Memory | $($m.MemoryGiB) GiB |"
    & $line "| Kernel | $($m.Kernel) |"
    & $line "| Load average (1, 5, 15 min) | $($m.LoadAverage) at the start, $($Run.LoadAverageEnd) at the end (the machine is shared) |"
    & $line "| PostgreSQL | $($m.PostgreSQL) |"
    & $line "| repmgr | $($m.Repmgr) (Debian's postgresql-15-repmgr) |"
    # Runs before the AutoFailover case (issue 19) did not record them.
    $recorded = { param([string] $Key) if ($m -is [Collections.IDictionary]) { $m[$Key] } elseif ($m.PSObject.Properties[$Key]) { $m.$Key } else { $null } }
    $patroni = & $recorded 'Patroni'; $etcd = & $recorded 'Etcd'
    if ($patroni -or $etcd) { & $line "| Patroni, etcd | $patroni, $etcd (Debian's patroni, etcd-server: the automatic failover case) |" }
    & $line "| PowerShell, .NET | $($m.PowerShell), $($m.DotNet) |"
    & $line '| Hosts | network namespaces of the lab (tests/Lab), one bridge, PostgreSQL 15 on each, Upstream layout |'
    & $line
    & $line '## Targets (issue 8)'
    & $line
    & $line '| Target | Measured | Result |'
    & $line '| --- | --- | --- |'
    foreach ($t in $Run.Targets) { & $line "| $($t.Text) | $(if ($t.Measured) { $t.Measured } else { '-' }) | **$($t.Result)** |" }
    if ($Run.Problems) {
        & $line
        & $line '## Figures not produced'
        & $line
        foreach ($p in $Run.Problems) { & $line "- $p" }
    }
    foreach ($group in @($Run.Cases | ForEach-Object Group | Select-Object -Unique)) {
        & $line
        & $line "## $group"
        $method = $null
        foreach ($case in @($Run.Cases | Where-Object Group -EQ $group)) {
            & $line
            & $line "### $($case.Title)"
            & $line
            # The cases of a group (the sizes) share their method: said once.
            if ($case.Method -and $case.Method -ne $method) { & $line $case.Method.Trim(); & $line }
            $method = $case.Method
            & $line '| Contender | Figure | Median | Min | Max | Runs |'
            & $line '| --- | --- | ---: | ---: | ---: | ---: |'
            foreach ($f in $case.Summary) {
                $c = Find-BenchContender $case $f.Contender
                $label, $unit = $case.Figures[$f.Metric]
                if ($f.Stats) {
                    & $line "| $($c.Name) | $label ($unit) | $(Format-BenchNumber $f.Stats.Median $unit) | $(Format-BenchNumber $f.Stats.Min $unit) | $(Format-BenchNumber $f.Stats.Max $unit) | $($f.Runs) |"
                }
                else { & $line "| $($c.Name) | every figure | failed: $(@($c.Errors)[0] -replace '\|', '/') | | | $($f.Runs) |" }
            }
            if ($case.RatioSummary) {
                & $line
                & $line '| Ratio, pair by pair | Median | Min | Max | Pairs |'
                & $line '| --- | ---: | ---: | ---: | ---: |'
                foreach ($r in $case.RatioSummary) {
                    $name = "$((Find-BenchContender $case $r.Of).Name) / $((Find-BenchContender $case $r.To).Name), $($case.Figures[$r.Metric][0])"
                    if ($r.Stats) { & $line "| $name | $(Format-BenchRatio $r.Stats.Median) | $(Format-BenchRatio $r.Stats.Min) | $(Format-BenchRatio $r.Stats.Max) | $($r.Stats.Count) |" }
                    else { & $line "| $name | no pair | | | 0 |" }
                }
            }
            $errors = @(foreach ($c in $case.Contenders) { foreach ($e in $c.Errors) { "$($c.Name): $e" } })
            if ($errors) {
                & $line
                & $line 'Failed runs:'
                & $line
                foreach ($e in $errors) { & $line "- $e" }
            }
            $notes = @($case.Contenders | ForEach-Object { $c = $_; $c.Rounds | Where-Object { $_ -and $_.ContainsKey('Note') } | ForEach-Object { "$($c.Name): $($_.Note)" } } | Select-Object -Unique)
            if ($notes) { & $line; & $line "Runs: $($notes -join '; ')." }
            $median = Get-MedianProfile $case 'ours-warm'
            if ($median) {
                & $line
                & $line 'Where the time goes: the verbose steps of PgReplication (warm) in its median run, seconds from the command start:'
                & $line
                & $line '```'
                foreach ($step in $median.Profile) { & $line $step }
                & $line '```'
            }
        }
    }
    if ($Run.Analysis) {
        & $line
        & $line $Run.Analysis.Trim()
    }
    $sb.ToString()
}

function Read-BenchRun {
    <#
    .SYNOPSIS
        A finished run back from its JSON, in the shapes the report functions take (rounds as hashtables,
        figures in their order), so the markdown can be written again with a new analysis and no new run.
    #>
    param([Parameter(Mandatory)] [string] $Path)
    $run = Get-Content -Raw $Path | ConvertFrom-Json
    foreach ($case in $run.Cases) {
        $figures = [ordered]@{}
        foreach ($p in $case.Figures.PSObject.Properties) { $figures[$p.Name] = @($p.Value) }
        $case.Figures = $figures
        foreach ($c in $case.Contenders) {
            $rounds = [Collections.Generic.List[object]]::new()
            foreach ($r in $c.Rounds) {
                if ($null -eq $r) { $rounds.Add($null); continue }
                $h = @{}
                foreach ($p in $r.PSObject.Properties) { $h[$p.Name] = $p.Value }
                $rounds.Add($h)
            }
            $c.Rounds = $rounds
            $c.Errors = [Collections.Generic.List[string]] @($c.Errors)
        }
    }
    $run.Cases = @(Get-BenchSummary -Cases $run.Cases)
    $run
}

Export-ModuleMember -Function Read-BenchRun, Get-BenchStats, Get-BenchValues, Get-BenchPairRatios, Get-BenchSummary, Test-BenchTarget, Get-BenchProblems,
    ConvertTo-BenchMarkdown
