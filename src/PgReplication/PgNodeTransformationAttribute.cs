using System.Management.Automation;
using PgReplication.Core.Model;

namespace PgReplication;

/// <summary>
/// Lets a node parameter take a PgNode or a string ("host" or "host:port"), as dbatools does.
/// A string that names a node New-PgNode made in this session is that node (what tab completion offers);
/// any other string becomes an undiscovered node, which the cmdlet discovers when it needs to.
/// </summary>
public sealed class PgNodeTransformationAttribute : ArgumentTransformationAttribute
{
    public override object Transform(EngineIntrinsics engineIntrinsics, object inputData)
    {
        return inputData switch
        {
            PSObject { BaseObject: var inner } => Transform(engineIntrinsics, inner),
            PgNode node => node,
            string text => SessionNodes.Find(text) ?? FromText(text),
            object[] items => items.SelectMany(Flatten).Select(i => Transform(engineIntrinsics, i)).ToArray(),
            _ => throw new ArgumentTransformationMetadataException($"'{inputData}' is neither a PgNode nor a \"host:port\" string."),
        };
    }

    // "$primary, $standbys" is a node and an array of nodes: one flat list, as the pipeline would give it.
    private static IEnumerable<object> Flatten(object item) =>
        (item is PSObject { BaseObject: var inner } ? inner : item) is object[] items ? items.SelectMany(Flatten) : new[] { item };

    private static PgNode FromText(string text)
    {
        if (!NodeAddress.TryParse(text, out var address, out var error))
            throw new ArgumentTransformationMetadataException(error);
        return NodeFactory.Create(address, PgNode.DefaultPort, new NodeSettings());
    }
}
