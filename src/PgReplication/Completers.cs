using System.Collections;
using System.Management.Automation;
using System.Management.Automation.Language;
using PgReplication.Core.Model;
using PgReplication.Core.Operations;

namespace PgReplication;

/// <summary>What both completers share: matching the typed prefix, and quoting what the parser would split.</summary>
public abstract class SessionCompleter : IArgumentCompleter
{
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
        CommandAst commandAst, IDictionary fakeBoundParameters)
    {
        var typed = (wordToComplete ?? "").Trim('\'', '"');
        var pattern = WildcardPattern.Get(WildcardPattern.Escape(typed) + "*", WildcardOptions.IgnoreCase);
        return Candidates(parameterName)
            .Where(c => pattern.IsMatch(c.Text))
            .GroupBy(c => c.Text, StringComparer.OrdinalIgnoreCase).Select(g => g.First())
            .Select(c => new CompletionResult(Quote(c.Text), c.Text, CompletionResultType.ParameterValue, c.ToolTip));
    }

    /// <summary>The values to offer, best first.</summary>
    protected abstract IEnumerable<(string Text, string ToolTip)> Candidates(string parameterName);

    internal static string Quote(string text) =>
        text.All(c => char.IsLetterOrDigit(c) || c is '.' or '_' or '-' or ':') ? text : "'" + text.Replace("'", "''") + "'";

    protected static string Describe(PgNode node) =>
        $"{node.Role} {node.ComputerName}:{node.Port}" + (node.ServerVersion is null ? "" : $" PostgreSQL {node.ServerVersion}");
}

/// <summary>
/// Names of the nodes made in this session. A parameter for a primary (-Primary, -Upstream) offers primaries
/// first; the others (-Standby, -Sibling, -Name of Invoke-PgPromotion) offer standbys first.
/// </summary>
public sealed class NodeNameCompleter : SessionCompleter
{
    protected override IEnumerable<(string, string)> Candidates(string parameterName)
    {
        var wantsPrimary = parameterName is "Primary" or "Upstream";
        return SessionNodes.All()
            .OrderBy(n => (n.Role == NodeRole.Primary) == wantsPrimary ? 0 : 1)
            .Select(n => (n.Name, Describe(n)));
    }
}

/// <summary>
/// Replication slot names: those the session's standbys use, then the names the module would derive for the
/// others. The same names are the standbys' application_name, which -SynchronousStandby takes.
/// </summary>
public sealed class SlotNameCompleter : SessionCompleter
{
    protected override IEnumerable<(string, string)> Candidates(string parameterName)
    {
        var nodes = SessionNodes.All().Where(n => n.Role != NodeRole.Primary).ToList();
        return nodes.Where(n => n.SlotName is not null).Select(n => (n.SlotName!, $"the slot of {n.Name}"))
            .Concat(nodes.Where(n => n.SlotName is null).Select(n => (SlotNames.FromNodeName(n.Name), $"the default slot name of {n.Name}")));
    }
}
