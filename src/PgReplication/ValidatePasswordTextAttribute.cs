using System.Management.Automation;

namespace PgReplication;

/// <summary>
/// Refuses a credential whose password holds a NUL character: NetworkCredential.Password stops at the first one,
/// so the module would otherwise set or store a shorter password than the one typed, without a word.
/// </summary>
public sealed class ValidatePasswordTextAttribute : ValidateArgumentsAttribute
{
    protected override void Validate(object arguments, EngineIntrinsics engineIntrinsics)
    {
        if (arguments is PSObject { BaseObject: var inner }) arguments = inner;
        if (arguments is PSCredential { Password: { } secure } credential && secure.Length != credential.GetNetworkCredential().Password.Length)
            throw new ValidationMetadataException($"The password of '{credential.UserName}' contains a NUL character, which a password cannot hold here.");
    }
}
