# The views of the output types (PgReplication.format.ps1xml) with sample objects, no server: each type has a
# table that fits 120 columns, failing values are red only where colour is rendered; and tab completion.
BeforeDiscovery {
    Import-Module (Join-Path $env:PGREPLICATION_MODULE 'PgReplication.psd1') -Force
    $model = 'PgReplication.Core.Model'
    $operations = 'PgReplication.Core.Operations'
    $checks = [PgReplication.Core.Model.HealthCheck[]]@(
        [PgReplication.Core.Model.HealthCheck]::new('connected', $true, 'db2.example.net answers')
        [PgReplication.Core.Model.HealthCheck]::new('lag under threshold', $false, '48234496 bytes (max 16777216), replay lag 12.5 s (max 30), ' + ('and more ' * 12))
        [PgReplication.Core.Model.HealthCheck]::new('slot healthy', $false, 'slot db2_example_net is not active'))
    $node = [PgReplication.Core.Model.PgNode]::new('db2.example.net', 5433)
    $node.Role = 'Standby'; $node.ServerVersion = [version]'15.18'; $node.Timeline = 3
    $node.DataDirectory = '/var/lib/postgresql/15/a-data-directory-with-a-rather-long-name/main'
    $following = New-Object "$operations.FollowOutcome" -Property @{ Standby = 'db3.example.net'; Upstream = 'db2.example.net'; Streaming = $true; Timeline = 4 }
    $diverged = New-Object "$operations.FollowOutcome" -Property @{
        Standby = 'db1.example.net'; Upstream = 'db2.example.net'; Streaming = $false
        Error = 'db1.example.net replayed past the point where timeline 4 of db2.example.net forked from its own'
        Remedy = 'Restore-PgStandby -Primary db2.example.net (pg_rewind, or -Reclone for a new copy)'
    }
    $summary = New-Object "$operations.PromotionSummary" -Property @{
        NewPrimary = 'db2.example.net'; OldPrimary = 'db1.example.net'; OldTimeline = 3; NewTimeline = 4; OldPrimaryFenced = $true
        TimeToWritable = [timespan]::FromSeconds(1.2); TimeToSiblingsStreaming = [timespan]::FromSeconds(3.4)
    }
    $summary.Siblings.AddRange([PgReplication.Core.Operations.FollowOutcome[]]@($following, $diverged))
    $summary.Steps.AddRange([string[]]@('promoted db2.example.net: timeline 3 -> 4', "$following", "$diverged"))

    # One sample of each output type, with its longest realistic values; a failing one where a type can fail.
    $script:Samples = @(
        @{ Type = "$model.PgNode"; Objects = @($node) }
        @{ Type = "$model.ReplicationHealth"; Failing = 'False'; Objects = @(New-Object "$model.ReplicationHealth" -Property @{
                    Standby = 'db2.example.net:5433'; Primary = 'db1.example.net'; State = 'streaming'; LagBytes = 123456789012
                    ReplayLag = [timespan]::FromSeconds(12.5); SyncState = 'potential'; SlotName = 'db2_example_net_5433'; Checks = $checks
                }) }
        @{ Type = "$model.HealthCheck"; Failing = 'False'; Objects = $checks }
        @{ Type = "$model.PgConnectionString"; Objects = @(New-Object "$model.PgConnectionString" -Property @{
                    Format = 'Libpq'; TargetSessionAttribute = 'PreferStandby'; Hosts = [string[]]@('db1.example.net:5432', 'db2.example.net:5432', 'db3.example.net:5432')
                    ConnectionString = "host='db1.example.net,db2.example.net,db3.example.net' port='5432,5432,5432' dbname='postgres' user='app' target_session_attrs='prefer-standby'"
                }) }
        @{ Type = "$model.TopologyRow"; Failing = 'not streaming'; Objects = @(New-Object "$model.TopologyRow" -Property @{
                    Name = 'db3.example.net:5433'; ComputerName = 'db3.example.net'; Port = 5433; Role = 'Standby'; Status = 'not streaming'
                    Upstream = 'db1.example.net:5432'; Timeline = 12; Lsn = '1A/FF000060'; LagBytes = 123456789012; Slot = 'db3_example_net_5433'; Depth = 2
                }) }
        @{ Type = "$operations.FollowOutcome"; Failing = 'False'; Objects = @($following, $diverged) }
        @{ Type = "$operations.PromotionSummary"; Failing = '1 of 2'; Objects = @($summary) }
        @{ Type = "$model.ReplicationSlotInfo"; Objects = @(New-Object "$model.ReplicationSlotInfo" -Property @{
                    Node = 'db1.example.net:5432'; SlotName = 'db2_example_net_5433_with_a_long_name'; SlotType = 'physical'; Active = $true
                    WalStatus = 'unreserved'; RetainedBytes = 123456789012; SafeWalSize = 123456789012; Serves = 'db2.example.net:5433 and a long name'
                }) }
    )
}

BeforeAll {
    function Get-Lines([string] $Text) { @($Text -split '\r?\n' | ForEach-Object { $_ -replace "`e\[[0-9;]*m", '' }) }
}

Describe 'The views of <Type>' -Tag Surface -ForEach $Samples {
    It 'are loaded with the module: a table and a list' {
        $views = @((Get-FormatData -TypeName $Type -PowerShellVersion $PSVersionTable.PSVersion).FormatViewDefinition)
        $controls = @($views | ForEach-Object { $_.Control.GetType().Name })
        $controls | Should -Contain 'TableControl'
        if ($Type -notmatch 'HealthCheck|PgConnectionString') { $controls | Should -Contain 'ListControl' }
    }

    It 'render a table that fits 120 columns, even when there are 200' {
        $lines = Get-Lines ($Objects | Format-Table | Out-String -Width 200)
        ($lines | Where-Object { $_.Trim() }).Count | Should -BeGreaterThan 2
        foreach ($line in $lines) { $line.Length | Should -BeLessOrEqual 120 -Because "'$line' is too wide" }
    }

    It 'render a list with every detail' {
        $text = $Objects | Format-List | Out-String -Width 120
        $text | Should -Not -BeNullOrEmpty
    }

    It 'show a failing value in red only where colour is rendered' {
        if (-not $Failing) { Set-ItResult -Skipped -Because "$Type has no value that shows a failure" }
        $saved = $PSStyle.OutputRendering
        try {
            $PSStyle.OutputRendering = 'PlainText'
            $Objects | Format-Table | Out-String -Width 200 | Should -Not -Match "`e\["
            if ($Host.UI.SupportsVirtualTerminal) {
                $PSStyle.OutputRendering = 'Ansi'
                $Objects | Format-Table | Out-String -Width 200 | Should -Match ([regex]::Escape($PSStyle.Foreground.BrightRed + $Failing))
            }
        }
        finally { $PSStyle.OutputRendering = $saved }
    }
}

Describe 'Views for every output type' -Tag Surface {
    It 'exist for each [OutputType] of the module''s cmdlets' {
        $types = (Get-Command -Module PgReplication).OutputType.Name | Where-Object { $_ -like 'PgReplication.*' } | Sort-Object -Unique
        foreach ($t in $types) { Get-FormatData -TypeName $t | Should -Not -BeNullOrEmpty -Because "$t needs a view" }
    }
}

Describe 'Node names and tab completion' -Tag Surface {
    BeforeAll {
        function Get-Completion([string] $InputScript) {
            @((TabExpansion2 -inputScript $InputScript -cursorColumn $InputScript.Length).CompletionMatches | ForEach-Object CompletionText)
        }
        $script:Standby = New-PgNode 'complete-standby.example.net' -NoConnect
        $script:Spaced = New-PgNode '127.0.0.1:5999' -Name 'complete standby two' -NoConnect
    }

    It 'offers the names of the nodes made in this session for node parameters' {
        Get-Completion 'Invoke-PgPromotion -Name complete-' | Should -Contain 'complete-standby.example.net'
        Get-Completion 'Invoke-PgPromotion -Sibling complete-' | Should -Contain 'complete-standby.example.net'
        Get-Completion 'Set-PgStandbyUpstream -Primary complete-' | Should -Contain 'complete-standby.example.net'
        Get-Completion 'Test-PgReplication complete-' | Should -Contain 'complete-standby.example.net'
    }

    It 'quotes a name the parser would split' {
        Get-Completion "Get-PgReplicationTopology 'complete st" | Should -Contain "'complete standby two'"
    }

    It 'offers slot names, which are also the application names of -SynchronousStandby' {
        Get-Completion 'Invoke-PgBaseBackup -SlotName complete_' | Should -Contain 'complete_standby_example_net'
        Get-Completion 'Set-PgMasterConfig -SynchronousStandby complete_' | Should -Contain 'complete_standby_two'
    }

    It 'resolves such a name, given as a string, to that very node' {
        (Get-PgConnectionString 'complete standby two' -UserName app).Hosts | Should -Be @('127.0.0.1:5999')
    }

    It 'takes a node and a list of nodes as one list, as the pipeline does' {
        $others = New-PgNode 'complete-b', 'complete-c' -NoConnect
        (Get-PgConnectionString $Standby, $others -UserName app).Hosts |
            Should -Be @('complete-standby.example.net:5432', 'complete-b:5432', 'complete-c:5432')
    }
}
