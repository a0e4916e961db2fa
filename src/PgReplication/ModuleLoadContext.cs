using System.Management.Automation;
using System.Reflection;
using System.Runtime.Loader;
using PgReplication.Core.Model;

namespace PgReplication;

/// <summary>
/// The module's own load context: PgReplication.Core and its packages (Npgsql, SSH.NET and theirs) load from the
/// module's Dependencies folder into it, so another module's Npgsql of any version, imported before or after this
/// one, and ours never meet. The default context holds only PgReplication.dll and PgReplication.Model.dll.
/// </summary>
internal sealed class ModuleLoadContext(string directory) : AssemblyLoadContext("PgReplication")
{
    public const string FolderName = "Dependencies";
    private static readonly Assembly Model = typeof(PgNode).Assembly;

    public string Directory { get; } = directory;

    protected override Assembly? Load(AssemblyName name)
    {
        // The model is the cmdlets' copy: a PgNode that Core makes must be the PgNode a cmdlet parameter takes.
        if (name.Name == Model.GetName().Name) return Model;
        var path = Path.Join(Directory, name.Name + ".dll");
        // Anything not shipped in the folder (System.*) is the runtime's.
        return File.Exists(path) ? LoadFromAssemblyPath(path) : null;
    }
}

/// <summary>
/// Runs when the module is imported: from then on the default context, failing to find PgReplication.Core
/// (it is not beside PgReplication.dll), gets it from the module's own context. Only that one name is handed over,
/// so this never answers for another module's assemblies; Core's references are then resolved by its context first.
/// Without a Dependencies folder (the test projects' output, where everything lies together) nothing is changed.
/// </summary>
public sealed class ModuleInitializer : IModuleAssemblyInitializer, IModuleAssemblyCleanup
{
    private const string CoreFile = "PgReplication.Core.dll";
    private static readonly object Gate = new();
    private static ModuleLoadContext? _context;
    private static bool _registered;

    public void OnImport()
    {
        var directory = Path.Join(Path.GetDirectoryName(typeof(ModuleInitializer).Assembly.Location), ModuleLoadContext.FolderName);
        if (!System.IO.Directory.Exists(directory)) return;
        lock (Gate)
        {
            _context ??= new ModuleLoadContext(directory);
            if (_registered) return;   // PowerShell may call OnImport more than once for one import
            AssemblyLoadContext.Default.Resolving += ResolveCore;
            _registered = true;
        }
    }

    public void OnRemove(PSModuleInfo module)
    {
        lock (Gate)
        {
            AssemblyLoadContext.Default.Resolving -= ResolveCore;
            _registered = false;
        }
    }

    private static Assembly? ResolveCore(AssemblyLoadContext context, AssemblyName name) =>
        name.Name + ".dll" == CoreFile && _context is { } own ? own.LoadFromAssemblyName(name) : null;
}
