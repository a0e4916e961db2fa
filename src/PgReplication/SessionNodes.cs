using PgReplication.Core.Model;

namespace PgReplication;

/// <summary>
/// The nodes New-PgNode made in this process: tab completion offers their names, and a node parameter
/// given such a name as a string gets that very node, with its credentials and SSH settings.
/// Weak references, so a node the user no longer holds (and the passwords it carries) can go.
/// </summary>
public static class SessionNodes
{
    private static readonly object Gate = new();
    private static readonly List<WeakReference<PgNode>> Nodes = new();

    public static void Remember(PgNode node)
    {
        lock (Gate)
        {
            Prune();
            Nodes.Add(new WeakReference<PgNode>(node));
        }
    }

    /// <summary>The live nodes, oldest first.</summary>
    public static IReadOnlyList<PgNode> All()
    {
        lock (Gate)
        {
            Prune();
            return Nodes.Select(r => r.TryGetTarget(out var n) ? n : null).OfType<PgNode>().ToList();
        }
    }

    /// <summary>The newest node with this Name (case-insensitive), or null.</summary>
    public static PgNode? Find(string name) =>
        All().LastOrDefault(n => string.Equals(n.Name, name, StringComparison.OrdinalIgnoreCase));

    private static void Prune() => Nodes.RemoveAll(r => !r.TryGetTarget(out _));
}
