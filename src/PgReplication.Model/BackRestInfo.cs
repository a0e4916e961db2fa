namespace PgReplication.Core.Model;

/// <summary>The repository's state, as `pgbackrest info` gives it.</summary>
public sealed class BackRestInfo
{
    public required string Stanza { get; init; }
    public required string Repository { get; init; }
    public required string Status { get; init; }
    public int Backups { get; init; }
    public string? LastBackup { get; init; }
    public string? ArchiveMin { get; init; }
    public string? ArchiveMax { get; init; }
    public string ArchiveCommand { get; init; } = "";
    public IReadOnlyDictionary<string, string> RestoreCommands { get; init; } = new Dictionary<string, string>();
    public override string ToString() => $"{Stanza} on {Repository}: {Status}, {Backups} backup(s), WAL {ArchiveMin}..{ArchiveMax}";
}
