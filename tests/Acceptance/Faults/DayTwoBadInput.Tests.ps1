# Issue 21, bad input of the day-two cmdlets (password rotation, TLS): each value below is refused before anything
# changes (every config file and passfile of every host hashed, and the roles and slots listed, before and after).
BeforeDiscovery {
    . "$PSScriptRoot/FaultSuite.ps1"
    $refusals = @(
        # Set-PgReplicationPassword: the password goes into passfiles, the role into conninfo.
        @{ Case = 'Set-PgReplicationPassword password with LF'; Run = { $cluster | Set-PgReplicationPassword -Credential (New-TestCredential 'replicator' "new`npass") -Confirm:$false } }
        @{ Case = 'Set-PgReplicationPassword password with CR'; Run = { $cluster | Set-PgReplicationPassword -Credential (New-TestCredential 'replicator' "new`rpass") -Confirm:$false } }
        @{ Case = 'Set-PgReplicationPassword role name with LF'; Run = { $cluster | Set-PgReplicationPassword -Credential (New-TestCredential "repl`nicator" (New-OddPassword)) -Confirm:$false } }
        @{ Case = 'Set-PgReplicationPassword for a role that does not exist'; Run = { $cluster | Set-PgReplicationPassword -Credential (New-TestCredential 'nosuchrole' (New-OddPassword)) -Confirm:$false } }
        @{ Case = 'Set-PgReplicationPassword given only the standby (no primary)'; Run = { $cluster[1] | Set-PgReplicationPassword -Credential (New-TestCredential 'replicator' (New-OddPassword)) -Confirm:$false } }
        @{ Case = 'Set-PgReplicationPassword given the primary without its streaming standby'; Run = { $cluster[0] | Set-PgReplicationPassword -Credential (New-TestCredential 'replicator' (New-OddPassword)) -Confirm:$false } }
        @{ Case = 'Set-PgReplicationPassword given the primary of another cluster too'; Run = { @($cluster) + $stranger | Set-PgReplicationPassword -Credential (New-TestCredential 'replicator' (New-OddPassword)) -Confirm:$false } }
        # Enable-PgReplicationSsl: the CA directory, and the nodes of one cluster.
        @{ Case = 'Enable-PgReplicationSsl with a CA directory that holds ca.crt but no ca.key'; Run = { $cluster | Enable-PgReplicationSsl -CertificateAuthorityPath $halfCa -Confirm:$false } }
        @{ Case = 'Enable-PgReplicationSsl with a ca.crt that is not a certificate'; Run = { $cluster | Enable-PgReplicationSsl -CertificateAuthorityPath $brokenCa -Confirm:$false } }
        @{ Case = 'Enable-PgReplicationSsl given only the standby (no primary)'; Run = { $cluster[1] | Enable-PgReplicationSsl -CertificateAuthorityPath $newCa -Confirm:$false } }
        @{ Case = 'Enable-PgReplicationSsl given the primary without its streaming standby'; Run = { $cluster[0] | Enable-PgReplicationSsl -CertificateAuthorityPath $newCa -Confirm:$false } }
        @{ Case = 'Enable-PgReplicationSsl given the primary of another cluster too'; Run = { @($cluster) + $stranger | Enable-PgReplicationSsl -CertificateAuthorityPath $newCa -Confirm:$false } }
        @{ Case = 'Enable-PgReplicationSsl -ValidDays 0'; Run = { $cluster | Enable-PgReplicationSsl -CertificateAuthorityPath $newCa -ValidDays 0 -Confirm:$false } }
    )
}

BeforeAll { . "$PSScriptRoot/FaultSuite.ps1" -WithModule }

Describe 'Bad input: day two' -Tag Acceptance, Faults {
    BeforeAll {
        # The TLS files Enable-PgReplicationSsl would write next to each data directory.
        function Get-TlsState($Lab) {
            foreach ($h in $Lab.Hosts) { Invoke-PgLabCommand -LabHost $h -ArgumentList sh, -c, 'd="$1.tls"; [ -d "$d" ] && ls -la "$d"; true', sh, $h.DataDirectory | Where-Object { $_ } }
        }
    }
    BeforeAll {
        $lab = New-PgLab -HostCount 3 -Layout Debian, Debian, Upstream -NoCluster 2
        $h1, $h2, $h3 = $lab.Hosts
        $cluster = Initialize-LabCluster $lab (New-ReplicationCredential) -Standbys $h2
        $stranger = New-LabNode $lab $h3 -Credential $h3.AdminCredential
        # CA directories on this machine: one with a certificate and no key, one with text that is no certificate.
        $halfCa = "$($lab.Root)/half-ca"; $brokenCa = "$($lab.Root)/broken-ca"; $newCa = "$($lab.Root)/new-ca"
        $null = New-Item -ItemType Directory $halfCa, $brokenCa
        # A CA certificate whose key is thrown away: openssl, as an admin would make one.
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout /dev/null -subj /CN=half-ca -days 1 -out "$halfCa/ca.crt" 2>$null
        if ($LASTEXITCODE -ne 0) { throw 'openssl could not make the test CA certificate.' }
        Set-Content "$brokenCa/ca.crt" 'not a certificate'; Set-Content "$brokenCa/ca.key" 'not a key'
        $state = @{ Baseline = Get-LabState $lab }
    }
    AfterAll {
        Save-ScenarioResults BadInput
        Remove-PgLab -Lab $lab
    }

    It '<Case> -> refused, nothing changed' -ForEach $refusals {
        Assert-RefusedUnchanged $lab $state $Run
        Get-TlsState $lab | Should -BeNullOrEmpty -Because 'no TLS file may be written'
        Test-Path $newCa | Should -BeFalse -Because 'no CA is made for a refused run'
        Wait-Streaming $h2 $h1.Address -Seconds 10 | Should -BeTrue -Because 'the standby must still stream'
    }
}
