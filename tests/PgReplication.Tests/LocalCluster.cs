using System.Net;
using System.Net.Sockets;
using System.Text;
using PgReplication.Core.Hosts;

namespace PgReplication.Tests;

/// <summary>
/// A real PostgreSQL 15 cluster for one test class: initdb (as postgres when we are root, since
/// initdb refuses root) in a temporary directory, SCRAM authentication, a free port on 127.0.0.1.
/// Stopped and removed on dispose.
/// </summary>
public sealed class LocalCluster : IDisposable
{
    public const string BinDirectory = "/usr/lib/postgresql/15/bin";
    public const string AdminUser = "postgres";

    private readonly LocalShell _shell = new();
    private readonly string? _runAs = Environment.UserName == "root" ? "postgres" : null;

    public LocalCluster()
    {
        Root = Directory.CreateTempSubdirectory("pgrepl-xunit-").FullName;
        DataDirectory = Path.Combine(Root, "data");
        Password = "T3st-" + Guid.NewGuid().ToString("N");
        Port = FreePort();
        if (_runAs is not null) Run("chown", _runAs, Root) ;

        var pwfile = Path.Combine(Root, "pwfile");
        HostFiles.Write(_shell, pwfile, Encoding.UTF8.GetBytes(Password + "\n"), "0600", _runAs ?? Environment.UserName);
        RunAsOwner(Path.Combine(BinDirectory, "initdb"), "-D", DataDirectory, "-U", AdminUser, "-E", "UTF8",
            "--auth-local=scram-sha-256", "--auth-host=scram-sha-256", "--pwfile", pwfile);
        HostFiles.Remove(_shell, pwfile, _runAs ?? Environment.UserName);

        var settings = $"\nport = {Port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{Root}'\n";
        File.AppendAllText(Path.Combine(DataDirectory, "postgresql.conf"), settings);
        RunAsOwner(Path.Combine(BinDirectory, "pg_ctl"), "-D", DataDirectory, "-l", Path.Combine(Root, "server.log"), "-w", "-t", "60", "start");
    }

    public string Root { get; }
    public string DataDirectory { get; }
    public string Password { get; }
    public int Port { get; }
    public NetworkCredential Credential => new(AdminUser, Password);

    /// <summary>Runs SQL as the admin role and returns the first column of the first row.</summary>
    public object? Sql(string sql, int? port = null)
    {
        using var c = new Npgsql.NpgsqlConnection($"Host=127.0.0.1;Port={port ?? Port};Username={AdminUser};Password={Password};Pooling=false;Database=postgres");
        c.Open();
        using var cmd = new Npgsql.NpgsqlCommand(sql, c);
        return cmd.ExecuteScalar();
    }

    /// <summary>A free port and an empty directory owned by the cluster's OS user, for a standby.</summary>
    public (int Port, string Directory) NewStandbySpace(string name)
    {
        var dir = Path.Combine(Root, name);
        return (FreePort(), dir);
    }

    /// <summary>Stops whatever server runs in a directory (a standby made by a test).</summary>
    public void StopServer(string dataDirectory) =>
        _shell.Run(new HostCommand(Path.Combine(BinDirectory, "pg_ctl"), "-D", dataDirectory, "-m", "immediate", "-w", "stop")
        { RunAs = _runAs, Timeout = TimeSpan.FromSeconds(60) });

    /// <summary>Restarts the server in a directory the fast way (its backends are told to end), and waits until it runs.</summary>
    public void RestartServer(string dataDirectory) =>
        _shell.Run(new HostCommand(Path.Combine(BinDirectory, "pg_ctl"), "-D", dataDirectory, "-m", "fast", "-w",
            "-l", Path.Combine(dataDirectory, "restart.log"), "restart")
        { RunAs = _runAs, Timeout = TimeSpan.FromSeconds(60) }).EnsureSuccess();

    private void RunAsOwner(string program, params string[] args) =>
        _shell.Run(new HostCommand(program, args) { RunAs = _runAs, Timeout = TimeSpan.FromSeconds(120) }).EnsureSuccess();

    private void Run(string program, params string[] args) =>
        _shell.Run(new HostCommand(program, args) { Timeout = TimeSpan.FromSeconds(60) }).EnsureSuccess();

    /// <summary>A port on 127.0.0.1 that nothing listens on (for now).</summary>
    public static int FreePort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    public void Dispose()
    {
        _shell.Run(new HostCommand(Path.Combine(BinDirectory, "pg_ctl"), "-D", DataDirectory, "-m", "immediate", "-w", "stop")
        { RunAs = _runAs, Timeout = TimeSpan.FromSeconds(60) });
        Directory.Delete(Root, recursive: true);
    }
}
