using System.Security.Cryptography;
using System.Text;
using PgReplication.Core.Sql;

namespace PgReplication.Core.Tests;

public sealed class ScramVerifierTests
{
    // RFC 7677 section 3: user "user", password "pencil".
    private const string Salt = "W22ZaJ0SNY7soEsUEjb6gQ==";
    private const string AuthMessage =
        "n=user,r=rOprNGfwEbeRWgbNEkqO," +
        "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096," +
        "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
    private const string ClientProof = "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
    private const string ServerSignature = "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

    [Fact]
    public void The_verifier_reproduces_the_RFC_7677_exchange()
    {
        var verifier = ScramVerifier.Compute("pencil", Convert.FromBase64String(Salt));
        Assert.True(ScramVerifier.TryParse(verifier, out var iterations, out var salt, out var storedKey, out var serverKey));
        Assert.Equal(4096, iterations);
        Assert.Equal(Salt, Convert.ToBase64String(salt));

        // The server checks a proof with StoredKey alone: ClientKey = proof XOR HMAC(StoredKey, AuthMessage); H(ClientKey) == StoredKey.
        var signature = HMACSHA256.HashData(storedKey, Encoding.UTF8.GetBytes(AuthMessage));
        var proof = Convert.FromBase64String(ClientProof);
        var clientKey = proof.Zip(signature, (a, b) => (byte)(a ^ b)).ToArray();
        Assert.Equal(storedKey, SHA256.HashData(clientKey));
        // And proves itself with ServerKey.
        Assert.Equal(ServerSignature, Convert.ToBase64String(HMACSHA256.HashData(serverKey, Encoding.UTF8.GetBytes(AuthMessage))));
    }

    [Fact]
    public void The_verifier_has_PostgreSQLs_format()
    {
        var verifier = ScramVerifier.Compute("secret");
        Assert.Matches(@"^SCRAM-SHA-256\$4096:[A-Za-z0-9+/]{22}==\$[A-Za-z0-9+/]{43}=:[A-Za-z0-9+/]{43}=$", verifier);
        Assert.DoesNotContain("secret", verifier);
    }

    [Fact]
    public void Each_verifier_gets_a_fresh_salt()
    {
        Assert.NotEqual(ScramVerifier.Compute("same"), ScramVerifier.Compute("same"));
    }

    [Fact]
    public void Matches_tells_the_right_password_from_a_wrong_one()
    {
        var verifier = ScramVerifier.Compute("it's a \\ $ secret ü");
        Assert.True(ScramVerifier.Matches(verifier, "it's a \\ $ secret ü"));
        Assert.False(ScramVerifier.Matches(verifier, "it's a \\ $ secret u"));
        Assert.False(ScramVerifier.Matches("md5" + new string('0', 32), "x"));
        Assert.False(ScramVerifier.Matches(null, "x"));
    }

    [Theory]
    [InlineData("plain ASCII stays", "plain ASCII stays")]
    [InlineData("\u2168", "IX")]                    // ROMAN NUMERAL NINE: NFKC
    [InlineData("\u00AA", "a")]                     // FEMININE ORDINAL INDICATOR: NFKC
    [InlineData("I\u00ADX", "IX")]                  // SOFT HYPHEN: mapped to nothing
    [InlineData("a\u00A0b\u00e9", "a b\u00e9")]     // NO-BREAK SPACE becomes a space
    [InlineData("e\u0301t\u00e9", "\u00e9t\u00e9")] // composed
    [InlineData("\uFB01le", "file")]                // ligature fi
    public void SaslPrep_normalises_as_RFC_4013_says(string input, string expected)
    {
        Assert.Equal(expected, ScramVerifier.SaslPrep(input));
    }

    [Theory]
    [InlineData("\u00e9\u0007")]     // a control character is prohibited: the password is used unchanged
    [InlineData("\u00e9\uE000")]     // private use
    [InlineData("\u05D0a\u05D0")]    // bidi: RandAL with L
    public void A_prohibited_result_leaves_the_password_as_it_is(string input)
    {
        Assert.Equal(input, ScramVerifier.SaslPrep(input));
    }

    [Fact]
    public void Normalised_forms_give_the_same_verifier()
    {
        var salt = new byte[16];
        Assert.Equal(ScramVerifier.Compute("caf\u00e9", salt), ScramVerifier.Compute("cafe\u0301", salt));
    }
}
