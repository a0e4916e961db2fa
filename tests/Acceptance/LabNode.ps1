# The one way the acceptance suites make a PgReplication node for a lab host: SSH as postgres with the lab's key, the
# host key pinned through the lab's known_hosts. Dot-source it after importing the module (FaultSuite.ps1 does).
function New-LabNode($Lab, $LabHost, [pscredential] $Credential = $Lab.Hosts[0].AdminCredential, [switch] $NoConnect) {
    New-PgNode -ComputerName $LabHost.Address -SshUser postgres -SshKeyPath $LabHost.PostgresKeyPath -KnownHostsPath $Lab.KnownHostsPath `
        -Credential $Credential -Name $LabHost.Name -NoConnect:$NoConnect
}
