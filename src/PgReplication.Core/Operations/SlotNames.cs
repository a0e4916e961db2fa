using System.Text;

namespace PgReplication.Core.Operations;

/// <summary>Replication slot (and application_name) derived from a standby's name.</summary>
public static class SlotNames
{
    /// <summary>"db2.example.net:5433" → "db2_example_net_5433": lower case, digits and '_' only, at most 63 bytes.</summary>
    public static string FromNodeName(string nodeName)
    {
        var sb = new StringBuilder();
        foreach (var c in nodeName.ToLowerInvariant())
            sb.Append(c is >= 'a' and <= 'z' or >= '0' and <= '9' ? c : '_');
        var name = sb.ToString().Trim('_');
        if (name.Length == 0) name = "standby";
        return name.Length <= 63 ? name : name[..63];
    }

    /// <summary>
    /// The slot a standby uses on its upstream once it follows one: the one asked for, else the node's own, else the one
    /// its settings name today (primary_slot_name), else one made from its name. Follow, switchover and rejoin use this.
    /// </summary>
    public static string ForFollower(Model.PgNode standby, string? requested = null, string? configured = null) =>
        requested ?? standby.SlotName ?? configured ?? FromNodeName(standby.Name);

    /// <summary>Throws naming the value unless PostgreSQL accepts it as a slot name.</summary>
    public static string Validate(string slotName)
    {
        if (slotName.Length is 0 or > 63 || slotName.Any(c => c is not (>= 'a' and <= 'z' or >= '0' and <= '9' or '_')))
            throw new ArgumentException($"'{slotName}' is not a valid replication slot name: use lower case letters, digits and '_' (at most 63).");
        return slotName;
    }
}
