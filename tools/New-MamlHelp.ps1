#requires -Version 7.4
<#
.SYNOPSIS
    Writes the module's MAML help (en-US/PgReplication.dll-Help.xml) from docs/help/<Cmdlet>.md and the
    cmdlets' real parameter metadata; fills the VersionRules placeholders of the help and of the about topic.
.DESCRIPTION
    Run by build.ps1 (Invoke-Build) in a child pwsh, after the module folder is published, so help cannot
    drift from code: a parameter in code but not in the Markdown, or in the Markdown but not in code, an
    [OutputType] without an OUTPUTS entry, a missing synopsis, description or second example all fail the
    build with a message naming the file and what is wrong.

    From the code: syntax (one per parameter set), each parameter's type, Required, Position, pipeline input,
    aliases, accepted values, range and default value (read from a new instance of the cmdlet class).
    From the Markdown: synopsis, description, each parameter's text, inputs, outputs, notes, examples, links.

    Markdown layout (one file per cmdlet, named after it):
        # Verb-Noun
        ## SYNOPSIS / ## DESCRIPTION / ## PARAMETERS (### -Name) / ## INPUTS (### Type) /
        ## OUTPUTS (### Type) / ## NOTES / ## EXAMPLES (### Example N: Title, a fenced code block, remarks) /
        ## RELATED LINKS (- Name, or - [Name](uri))
    A line {{VersionRules}} or {{VersionRules:Setting}} (any RuleKind) is replaced by that table of
    [PgReplication.Core.Versions.VersionRules]::ToMarkdownTable(), in the help and in about_*.help.txt.
.EXAMPLE
    pwsh -File tools/New-MamlHelp.ps1 -ModulePath out/PgReplication -MarkdownPath docs/help
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)] [string] $ModulePath,
    [Parameter(Mandatory)] [string] $MarkdownPath
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest

# Get-Help prints paragraphs as given and breaks long lines mid-word, so text is wrapped here, to fit
# 80 columns after Get-Help's indent (4 for the description and examples, 8 for parameters and types).
$TextWidth = 76
$IndentedTextWidth = 72
$ShouldProcessText = @{
    WhatIf  = 'Shows what the cmdlet would change, after its read-only checks, without changing anything.'
    Confirm = 'Asks for confirmation before each change.'
}
$Sections = 'SYNOPSIS', 'DESCRIPTION', 'PARAMETERS', 'INPUTS', 'OUTPUTS', 'NOTES', 'EXAMPLES', 'RELATED LINKS'
$Ns = @{
    msh     = 'http://msh'
    maml    = 'http://schemas.microsoft.com/maml/2004/10'
    command = 'http://schemas.microsoft.com/maml/dev/command/2004/10'
    dev     = 'http://schemas.microsoft.com/maml/dev/2004/10'
}

#region Markdown

# Splits a file into its "## " sections and their "### " subsections, ignoring headings inside code fences.
function Read-HelpMarkdown([string] $Path) {
    $doc = [ordered]@{ Title = $null; Sections = [ordered]@{} }
    $section = $null; $sub = $null; $inFence = $false
    foreach ($line in Get-Content -LiteralPath $Path) {
        if ($line -match '^\s*```') { $inFence = -not $inFence }
        if (-not $inFence -and $line -match '^# (.+)$') { $doc.Title = $Matches[1].Trim(); continue }
        if (-not $inFence -and $line -match '^## (.+)$') {
            $section = [ordered]@{ Lines = [Collections.Generic.List[string]]::new(); Subsections = [ordered]@{} }
            $doc.Sections[$Matches[1].Trim()] = $section; $sub = $null; continue
        }
        if (-not $inFence -and $line -match '^### (.+)$' -and $null -ne $section) {
            $sub = [Collections.Generic.List[string]]::new()
            $section.Subsections[$Matches[1].Trim()] = $sub; continue
        }
        if ($null -ne $sub) { $sub.Add($line) } elseif ($null -ne $section) { $section.Lines.Add($line) }
    }
    $doc
}

function Expand-Placeholder([string[]] $Lines) {
    foreach ($line in $Lines) {
        if ($line -match '^\s*\{\{\s*VersionRules(?::(\w+))?\s*\}\}\s*$') {
            $kind = if ($Matches[1]) { [PgReplication.Core.Versions.RuleKind] $Matches[1] } else { $null }
            [PgReplication.Core.Versions.VersionRules]::ToMarkdownTable($kind) -split '\r?\n' | Where-Object { $_ }
        }
        else { $line }
    }
}

function ConvertFrom-Inline([string] $Text) {
    $Text = $Text -replace '\[([^\]]+)\]\([^)]*\)', '$1'   # links: their text
    $Text -replace '\*\*|`', ''                             # bold and code marks
}

function Format-Wrapped([string] $Text, [int] $Width, [string] $Indent = '') {
    $lines = [Collections.Generic.List[string]]::new(); $current = ''
    foreach ($word in $Text -split '\s+' | Where-Object { $_ }) {
        if ($current -and ($Indent.Length + $current.Length + 1 + $word.Length) -gt $Width) { $lines.Add($Indent + $current); $current = $word }
        else { $current = $current ? "$current $word" : $word }
    }
    if ($current) { $lines.Add($Indent + $current) }
    $lines -join "`n"
}

# A Markdown table as blocks that fit the width: the first cell, then "Header: value" lines under it.
function Format-MarkdownTable([string[]] $Rows, [int] $Width) {
    $cells = @($Rows | Where-Object { $_ -notmatch '^\|[\s|:-]+\|$' } | ForEach-Object { , @($_.Trim().Trim('|') -split '\|' | ForEach-Object { ConvertFrom-Inline $_.Trim() }) })
    $header = $cells[0]
    foreach ($row in $cells | Select-Object -Skip 1) {
        $block = @($row[0])
        for ($i = 1; $i -lt $row.Count; $i++) { $block += Format-Wrapped "$($header[$i]): $($row[$i])" $Width '    ' }
        $block -join "`n"
    }
}

<#
    Markdown text as paragraphs: prose re-wrapped to the width, list items one paragraph each, code blocks
    kept line by line, tables as blocks. Get-Help trims a paragraph's leading spaces, so indentation only
    lives inside a paragraph.
#>
function ConvertTo-Paragraph([string[]] $Lines, [int] $Width) {
    $Lines = @(Expand-Placeholder $Lines)
    $block = [Collections.Generic.List[string]]::new(); $kind = $null
    $flush = {
        if ($block.Count -eq 0) { return }
        switch ($kind) {
            'code' { $block -join "`n" }
            'table' { Format-MarkdownTable $block $Width }
            'item' { Format-Wrapped (ConvertFrom-Inline ($block -join ' ')) $Width '  ' | ForEach-Object { '-' + $_.Substring(1) } }
            default { Format-Wrapped (ConvertFrom-Inline ($block -join ' ')) $Width }
        }
        $block.Clear()
    }
    for ($i = 0; $i -lt $Lines.Count; $i++) {
        $line = $Lines[$i]
        if ($line -match '^\s*```') {
            & $flush
            $kind = 'code'
            for ($i++; $i -lt $Lines.Count -and $Lines[$i] -notmatch '^\s*```'; $i++) { $block.Add($Lines[$i]) }
            & $flush; $kind = $null; continue
        }
        if (-not $line.Trim()) { & $flush; $kind = $null; continue }
        if ($line -match '^\s*\|') { if ($kind -ne 'table') { & $flush; $kind = 'table' }; $block.Add($line); continue }
        if ($line -match '^\s*[-*] (.*)$') { & $flush; $kind = 'item'; $block.Add($Matches[1]); continue }
        if ($kind -eq 'table') { & $flush; $kind = $null }
        $block.Add($line.Trim())
    }
    & $flush
}

#endregion

#region Code metadata

$CommonParameters = [System.Management.Automation.PSCmdlet]::CommonParameters

function Get-ParameterFacts([System.Management.Automation.CommandInfo] $Command) {
    $defaults = [Activator]::CreateInstance($Command.ImplementingType)
    foreach ($p in $Command.Parameters.Values | Where-Object { $_.Name -notin $CommonParameters }) {
        $sets = @($Command.ParameterSets | ForEach-Object { $_.Parameters | Where-Object Name -EQ $p.Name })
        $property = $Command.ImplementingType.GetProperty($p.Name)
        $default = if ($property) { $property.GetValue($defaults) }
        $elementType = $p.ParameterType.IsArray ? $p.ParameterType.GetElementType() : $p.ParameterType
        $values = @($p.Attributes | Where-Object { $_ -is [System.Management.Automation.ValidateSetAttribute] } | ForEach-Object ValidValues)
        if (-not $values -and $elementType.IsEnum) { $values = [Enum]::GetNames($elementType) }
        $range = $p.Attributes | Where-Object { $_ -is [System.Management.Automation.ValidateRangeAttribute] } | Select-Object -First 1
        [pscustomobject]@{
            Name          = $p.Name
            Type          = $p.ParameterType
            IsSwitch      = $p.SwitchParameter
            Required      = $sets.Count -gt 0 -and -not ($sets | Where-Object { -not $_.IsMandatory })
            Position      = ($sets | Where-Object Position -GE 0 | Select-Object -First 1)?.Position
            ByValue       = [bool]($sets | Where-Object ValueFromPipeline)
            ByPropertyName = [bool]($sets | Where-Object ValueFromPipelineByPropertyName)
            Aliases       = @($p.Aliases)
            Values        = $values
            Range         = $range
            Default       = Format-Default $default
        }
    }
}

function Format-Default($Value) {
    if ($null -eq $Value) { return 'None' }
    if ($Value -is [System.Management.Automation.SwitchParameter]) { return [string] $Value.IsPresent }
    if ($Value -is [Array]) { return $Value.Count ? ($Value -join ', ') : 'None' }
    [string] $Value
}

function Get-PipelineInput($Facts) {
    $kinds = @(if ($Facts.ByValue) { 'ByValue' }; if ($Facts.ByPropertyName) { 'ByPropertyName' })
    $kinds ? "True ($($kinds -join ', '))" : 'False'
}

# Positional first, then mandatory, then the rest as declared; -WhatIf and -Confirm last, as PowerShell shows them.
function Get-SyntaxOrder($Parameters) {
    $Parameters | Sort-Object @{ E = { $_.Name -in 'WhatIf', 'Confirm' } }, @{ E = { $_.Position -lt 0 } }, @{ E = { $_.Position } },
        @{ E = { -not $_.IsMandatory } } -Stable
}

#endregion

#region MAML

function Write-Paragraphs([System.Xml.XmlWriter] $Xml, [string[]] $Paragraphs) {
    foreach ($para in $Paragraphs) { $Xml.WriteElementString('maml', 'para', $Ns.maml, $para) }
}

function Write-Description([System.Xml.XmlWriter] $Xml, [string[]] $Paragraphs) {
    $Xml.WriteStartElement('maml', 'description', $Ns.maml); Write-Paragraphs $Xml $Paragraphs; $Xml.WriteEndElement()
}

function Write-ParameterStart([System.Xml.XmlWriter] $Xml, $Facts, [bool] $Required, $Position, [string] $PipelineInput) {
    $Xml.WriteStartElement('command', 'parameter', $Ns.command)
    $Xml.WriteAttributeString('required', $Required.ToString().ToLowerInvariant())
    $Xml.WriteAttributeString('variableLength', 'true')
    $Xml.WriteAttributeString('globbing', 'false')
    $Xml.WriteAttributeString('pipelineInput', $PipelineInput)
    $Xml.WriteAttributeString('position', ($null -ne $Position -and $Position -ge 0) ? [string] $Position : 'named')
    $Xml.WriteAttributeString('aliases', $Facts.Aliases ? ($Facts.Aliases -join ', ') : 'none')
    $Xml.WriteElementString('maml', 'name', $Ns.maml, $Facts.Name)
}

function Write-ParameterValue([System.Xml.XmlWriter] $Xml, $Facts, [bool] $Required) {
    $Xml.WriteStartElement('command', 'parameterValue', $Ns.command)
    $Xml.WriteAttributeString('required', $Required.ToString().ToLowerInvariant())
    $Xml.WriteAttributeString('variableLength', 'false')
    $Xml.WriteString($Facts.Type.Name)
    $Xml.WriteEndElement()
}

function Write-SyntaxItem([System.Xml.XmlWriter] $Xml, [System.Management.Automation.CommandInfo] $Command, $ParameterSet, $FactsByName) {
    $Xml.WriteStartElement('command', 'syntaxItem', $Ns.command)
    $Xml.WriteElementString('maml', 'name', $Ns.maml, $Command.Name)
    foreach ($p in Get-SyntaxOrder @($ParameterSet.Parameters | Where-Object { $_.Name -notin $CommonParameters })) {
        $facts = $FactsByName[$p.Name]
        Write-ParameterStart $Xml $facts $p.IsMandatory $p.Position (Get-PipelineInput ([pscustomobject]@{ ByValue = $p.ValueFromPipeline; ByPropertyName = $p.ValueFromPipelineByPropertyName }))
        if ($facts.Values) {
            $Xml.WriteStartElement('command', 'parameterValueGroup', $Ns.command)
            foreach ($v in $facts.Values) {
                $Xml.WriteStartElement('command', 'parameterValue', $Ns.command)
                $Xml.WriteAttributeString('required', 'false'); $Xml.WriteAttributeString('variableLength', 'false')
                $Xml.WriteString($v); $Xml.WriteEndElement()
            }
            $Xml.WriteEndElement()
        }
        elseif (-not $facts.IsSwitch) { Write-ParameterValue $Xml $facts $true }
        $Xml.WriteEndElement()
    }
    $Xml.WriteEndElement()
}

function Write-TypeEntry([System.Xml.XmlWriter] $Xml, [string] $Element, [string] $TypeName, [string[]] $Paragraphs) {
    $Xml.WriteStartElement('command', $Element, $Ns.command)
    $Xml.WriteStartElement('dev', 'type', $Ns.dev); $Xml.WriteElementString('maml', 'name', $Ns.maml, $TypeName); $Xml.WriteEndElement()
    Write-Description $Xml $Paragraphs
    $Xml.WriteEndElement()
}

function Get-ExampleTitle([string] $Title) {
    $dashes = [Math]::Floor(($TextWidth - $Title.Length - 2) / 2)
    $dashes -ge 3 ? ('-' * $dashes) + " $Title " + ('-' * $dashes) : $Title
}

#endregion

# One cmdlet: its Markdown checked against its metadata, then its MAML. Problems are collected, not thrown.
function Write-CommandHelp([System.Xml.XmlWriter] $Xml, [System.Management.Automation.CommandInfo] $Command, [string] $File, [Collections.Generic.List[string]] $Problems) {
    $name = $Command.Name
    $doc = Read-HelpMarkdown $File
    $where = "docs/help/$name.md"
    if ($doc.Title -ne $name) { $Problems.Add("${where}: the title is '# $($doc.Title)', not '# $name'.") }
    foreach ($s in $doc.Sections.Keys | Where-Object { $_ -notin $Sections }) { $Problems.Add("${where}: unknown section '## $s' (known: $($Sections -join ', ')).") }
    $section = { param($n) if ($doc.Sections.Contains($n)) { $doc.Sections[$n] } else { [ordered]@{ Lines = @(); Subsections = [ordered]@{} } } }

    $synopsis = @(ConvertTo-Paragraph (& $section 'SYNOPSIS').Lines $TextWidth)
    $description = @(ConvertTo-Paragraph (& $section 'DESCRIPTION').Lines $TextWidth)
    if (-not $synopsis) { $Problems.Add("${where}: ## SYNOPSIS is empty.") }
    if (-not $description) { $Problems.Add("${where}: ## DESCRIPTION is empty.") }

    $facts = @(Get-ParameterFacts $Command)
    $factsByName = @{}; foreach ($f in $facts) { $factsByName[$f.Name] = $f }
    $documented = (& $section 'PARAMETERS').Subsections
    $documentedNames = @($documented.Keys | ForEach-Object { $_ -replace '^-', '' })
    foreach ($f in $facts | Where-Object { $_.Name -notin $documentedNames -and -not $ShouldProcessText.ContainsKey($_.Name) }) {
        $Problems.Add("${where}: -$($f.Name) is a parameter of $name but has no '### -$($f.Name)' under ## PARAMETERS.")
    }
    foreach ($n in $documentedNames | Where-Object { -not $factsByName.ContainsKey($_) }) {
        $Problems.Add("${where}: '### -$n' documents a parameter that $name does not have.")
    }

    $outputs = (& $section 'OUTPUTS').Subsections
    foreach ($t in $Command.OutputType.Name | Where-Object { $_ -notin $outputs.Keys }) { $Problems.Add("${where}: [OutputType] $t has no '### $t' under ## OUTPUTS.") }
    foreach ($t in $outputs.Keys | Where-Object { $_ -notin $Command.OutputType.Name }) { $Problems.Add("${where}: ## OUTPUTS lists $t, which is not an [OutputType] of $name.") }
    $inputs = (& $section 'INPUTS').Subsections
    foreach ($f in $facts | Where-Object ByValue) {
        $t = ($f.Type.IsArray ? $f.Type.GetElementType() : $f.Type).FullName
        if ($t -notin $inputs.Keys) { $Problems.Add("${where}: -$($f.Name) takes $t from the pipeline; ## INPUTS has no '### $t'.") }
    }

    $examples = (& $section 'EXAMPLES').Subsections
    if ($examples.Count -lt 2) { $Problems.Add("${where}: ## EXAMPLES has $($examples.Count) example(s); at least two are needed.") }

    $Xml.WriteStartElement('command', 'command', $Ns.command)
    $Xml.WriteStartElement('command', 'details', $Ns.command)
    $Xml.WriteElementString('command', 'name', $Ns.command, $name)
    Write-Description $Xml $synopsis
    $Xml.WriteElementString('command', 'verb', $Ns.command, $Command.Verb)
    $Xml.WriteElementString('command', 'noun', $Ns.command, $Command.Noun)
    $Xml.WriteEndElement()
    Write-Description $Xml $description

    $Xml.WriteStartElement('command', 'syntax', $Ns.command)
    foreach ($set in $Command.ParameterSets) { Write-SyntaxItem $Xml $Command $set $factsByName }
    $Xml.WriteEndElement()

    $Xml.WriteStartElement('command', 'parameters', $Ns.command)
    foreach ($f in $facts) {
        $key = $documented.Keys | Where-Object { $_ -eq "-$($f.Name)" } | Select-Object -First 1
        $text = @(if ($key) { ConvertTo-Paragraph $documented[$key] $IndentedTextWidth } else { $ShouldProcessText[$f.Name] })
        if ($key -and -not $text) { $Problems.Add("${where}: '### -$($f.Name)' has no text.") }
        if ($f.Values) { $text += Format-Wrapped "Accepted values: $($f.Values -join ', ')." $IndentedTextWidth }
        if ($f.Range) { $text += "Range: $($f.Range.MinRange) to $($f.Range.MaxRange)." }
        Write-ParameterStart $Xml $f $f.Required $f.Position (Get-PipelineInput $f)
        Write-Description $Xml $text
        Write-ParameterValue $Xml $f (-not $f.IsSwitch)
        $Xml.WriteStartElement('dev', 'type', $Ns.dev); $Xml.WriteElementString('maml', 'name', $Ns.maml, $f.Type.FullName); $Xml.WriteEndElement()
        $Xml.WriteElementString('dev', 'defaultValue', $Ns.dev, $f.Default)
        $Xml.WriteEndElement()
    }
    $Xml.WriteEndElement()

    foreach ($pair in @(@('inputTypes', 'inputType', $inputs), @('returnValues', 'returnValue', $outputs))) {
        $Xml.WriteStartElement('command', $pair[0], $Ns.command)
        foreach ($t in $pair[2].Keys) { Write-TypeEntry $Xml $pair[1] $t @(ConvertTo-Paragraph $pair[2][$t] $IndentedTextWidth) }
        $Xml.WriteEndElement()
    }

    $notes = @(ConvertTo-Paragraph (& $section 'NOTES').Lines $IndentedTextWidth)
    if ($notes) {
        $Xml.WriteStartElement('maml', 'alertSet', $Ns.maml); $Xml.WriteStartElement('maml', 'alert', $Ns.maml)
        Write-Paragraphs $Xml $notes
        $Xml.WriteEndElement(); $Xml.WriteEndElement()
    }

    $Xml.WriteStartElement('command', 'examples', $Ns.command)
    foreach ($title in $examples.Keys) {
        $lines = @($examples[$title])
        $fence = @(for ($i = 0; $i -lt $lines.Count; $i++) { if ($lines[$i] -match '^\s*```') { $i } })
        if ($fence.Count -lt 2) { $Problems.Add("${where}: '### $title' has no fenced code block."); continue }
        $code = ($lines[($fence[0] + 1)..($fence[1] - 1)] -join "`n").TrimEnd()
        foreach ($long in $code -split "`n" | Where-Object Length -GT $TextWidth) {
            $Problems.Add("${where}: a code line of '### $title' is longer than $TextWidth characters (Get-Help would break it mid-word): $long")
        }
        $Xml.WriteStartElement('command', 'example', $Ns.command)
        $Xml.WriteElementString('maml', 'title', $Ns.maml, (Get-ExampleTitle $title))
        $Xml.WriteElementString('dev', 'code', $Ns.dev, $code)
        $Xml.WriteStartElement('dev', 'remarks', $Ns.dev)
        # The empty paragraph is the blank line Get-Help leaves out between one example and the next title.
        Write-Paragraphs $Xml @(@(ConvertTo-Paragraph @($lines | Select-Object -Skip ($fence[1] + 1)) $TextWidth) + '')
        $Xml.WriteEndElement()
        $Xml.WriteEndElement()
    }
    $Xml.WriteEndElement()

    $Xml.WriteStartElement('maml', 'relatedLinks', $Ns.maml)
    foreach ($line in (& $section 'RELATED LINKS').Lines | Where-Object { $_ -match '^\s*[-*] ' }) {
        $text = $line -replace '^\s*[-*] ', ''
        $uri = if ($text -match '\[([^\]]+)\]\(([^)]*)\)') { $text = $Matches[1]; $Matches[2] } else { '' }
        $Xml.WriteStartElement('maml', 'navigationLink', $Ns.maml)
        $Xml.WriteElementString('maml', 'linkText', $Ns.maml, $text.Trim())
        $Xml.WriteElementString('maml', 'uri', $Ns.maml, $uri)
        $Xml.WriteEndElement()
    }
    $Xml.WriteEndElement()
    $Xml.WriteEndElement()
}

# The about topic is plain text: its placeholders become the same blocks, indented as the topic is.
function Update-AboutTopic([string] $Path) {
    $lines = foreach ($line in Get-Content -LiteralPath $Path) {
        if ($line -match '^(\s*)\{\{\s*VersionRules(?::\w+)?\s*\}\}\s*$') {
            $indent = $Matches[1]
            foreach ($block in ConvertTo-Paragraph @($line.Trim()) ($TextWidth - $indent.Length)) { ($block -split "`n" | ForEach-Object { $indent + $_ }); '' }
        }
        else { $line }
    }
    Set-Content -LiteralPath $Path -Value $lines
}

$module = Import-Module (Join-Path $ModulePath 'PgReplication.psd1') -PassThru -Force
# Core's types (RuleKind, VersionRules) live in the module's own load context, where PowerShell does not look for
# [type] names: a copy of Core in this session's default context answers for the placeholders.
Add-Type -Path (Join-Path $ModulePath 'Dependencies/PgReplication.Core.dll')
$commands = @($module.ExportedCommands.Values | Sort-Object Name)
$problems = [Collections.Generic.List[string]]::new()
foreach ($c in $commands | Where-Object { -not (Test-Path (Join-Path $MarkdownPath "$($_.Name).md")) }) {
    $problems.Add("docs/help/$($c.Name).md is missing: every exported command needs its help page.")
}
foreach ($f in Get-ChildItem $MarkdownPath -Filter '*.md' | Where-Object { $_.BaseName -notin $commands.Name }) {
    $problems.Add("docs/help/$($f.Name) documents $($f.BaseName), which the module does not export.")
}

$helpDir = Join-Path $ModulePath 'en-US'
New-Item -ItemType Directory -Force $helpDir | Out-Null
$target = Join-Path $helpDir "$($module.Name).dll-Help.xml"
$settings = [System.Xml.XmlWriterSettings]@{ Indent = $true; Encoding = [Text.UTF8Encoding]::new($false) }
$xml = [System.Xml.XmlWriter]::Create($target, $settings)
try {
    $xml.WriteStartDocument()
    $xml.WriteStartElement('helpItems', $Ns.msh)
    $xml.WriteAttributeString('schema', 'maml')
    foreach ($prefix in 'maml', 'command', 'dev') { $xml.WriteAttributeString('xmlns', $prefix, $null, $Ns[$prefix]) }
    foreach ($c in $commands) {
        $file = Join-Path $MarkdownPath "$($c.Name).md"
        if (Test-Path $file) { Write-CommandHelp $xml $c $file $problems }
    }
    $xml.WriteEndElement()
    $xml.WriteEndDocument()
}
finally { $xml.Dispose() }

foreach ($about in Get-ChildItem $helpDir -Filter 'about_*.help.txt') { Update-AboutTopic $about.FullName }

if ($problems.Count) {
    Remove-Item $target
    # Plain lines on stderr, not an error record: the build log shows them as they are.
    [Console]::Error.WriteLine("The help in $MarkdownPath does not match the code ($($problems.Count) problem(s)):`n  - " + ($problems -join "`n  - "))
    exit 1
}
Write-Host "Help: $target ($($commands.Count) commands)"
