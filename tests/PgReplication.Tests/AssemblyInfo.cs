// The local standbys of every test class keep their replication passwords in one file, the postgres user's
// ~/.pgpass (as on a real host); classes running at once raced on its read-modify-write and lost entries,
// and a standby whose entry was lost never started streaming. One class at a time.
[assembly: Xunit.CollectionBehavior(DisableTestParallelization = true)]
