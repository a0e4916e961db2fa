# A PgNode for a lab host, built the same way by the bench (warm runs) and by the fresh pwsh of each cold
# run: SSH as postgres with the lab's key, host keys pinned by the lab's known_hosts, the admin role.
# Dot-sourced, so a cold run pays for nothing but the module and this one function.
function New-BenchNode {
    param(
        # Anything with Name, Address and PostgresKeyPath: a lab host, or a host of a cold run's spec file.
        [Parameter(Mandatory, ValueFromPipeline)] $BenchHost,
        [Parameter(Mandatory)] [pscredential] $Credential,
        [Parameter(Mandatory)] [string] $KnownHostsPath,
        [switch] $NoConnect
    )
    process {
        New-PgNode -ComputerName $BenchHost.Address -Name $BenchHost.Name -SshUser postgres -SshKeyPath $BenchHost.PostgresKeyPath `
            -KnownHostsPath $KnownHostsPath -Credential $Credential -NoConnect:$NoConnect
    }
}
