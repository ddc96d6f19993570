using System.Security.Cryptography;
using MQTTnet.Protocol;
using StoreForward.Cli;
using StoreForward.Outbox;

namespace StoreForward.Tests.Cli;

/// <summary>The tool on an encrypted store: it needs the key, from a file or the environment, never on the command line.</summary>
[Trait("Category", "Unit")]
public sealed class EncryptedStoreTests : CliTest
{
    private static readonly byte[] Key = RandomNumberGenerator.GetBytes(32);

    private void CreateEncryptedStore()
    {
        using var store = OutboxStore.Open(StorePath, Key);
        store.BeginBatch();
        store.Append("plant/secret/topic", "secret"u8, MqttQualityOfServiceLevel.AtLeastOnce, false, DateTimeOffset.UnixEpoch);
        store.CommitBatch();
    }

    [Fact]
    public void Without_the_key_the_tool_says_how_to_give_it()
    {
        CreateEncryptedStore();

        var result = Run("stats", StorePath);

        Assert.Equal(ExitCodes.StoreUnreadable, result.ExitCode);
        Assert.Contains("--key-file", result.Error, StringComparison.Ordinal);
        Assert.Contains(RecordCipher.KeyId(Key), result.Error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_raw_or_base64_key_file_opens_it(bool base64)
    {
        CreateEncryptedStore();
        var keyFile = Directory.File("store.key");
        if (base64)
            File.WriteAllText(keyFile, Convert.ToBase64String(Key) + "\n");
        else
            File.WriteAllBytes(keyFile, Key);

        var result = Run("peek", StorePath, "--key-file", keyFile, "--json");

        Assert.Equal(ExitCodes.Ok, result.ExitCode);
        Assert.Equal("plant/secret/topic", result.Json[0].GetProperty("topic").GetString());
    }

    [Fact]
    public void Compact_keeps_an_encrypted_store_encrypted_and_readable_with_its_key()
    {
        CreateEncryptedStore();
        var keyFile = Directory.File("store.key");
        File.WriteAllBytes(keyFile, Key);

        var result = Run("compact", StorePath, "--key-file", keyFile);

        Assert.Equal(ExitCodes.Ok, result.ExitCode);
        Assert.Equal(OutboxStoreProblem.KeyMismatch, Assert.Throws<OutboxStoreException>(() => OutboxStore.Open(StorePath)).Problem);
        using var store = OutboxStore.Open(StorePath, Key);
        Assert.Equal("plant/secret/topic", store.ReadAll().Single().Topic);
    }

    [Fact]
    public void A_key_file_that_is_not_a_key_is_a_usage_error_naming_it()
    {
        CreateEncryptedStore();
        var keyFile = Directory.File("not.key");
        File.WriteAllText(keyFile, "too short");

        var result = Run("stats", StorePath, "--key-file", keyFile);

        Assert.Equal(ExitCodes.Usage, result.ExitCode);
        Assert.Contains(keyFile, result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void A_wrong_key_cannot_read_the_store_and_names_both_key_ids()
    {
        CreateEncryptedStore();
        var otherKey = RandomNumberGenerator.GetBytes(32);
        var keyFile = Directory.File("other.key");
        File.WriteAllBytes(keyFile, otherKey);

        var result = Run("peek", StorePath, "--key-file", keyFile);

        Assert.Equal(ExitCodes.StoreUnreadable, result.ExitCode);
        Assert.Contains(RecordCipher.KeyId(Key), result.Error, StringComparison.Ordinal);
        Assert.Contains(RecordCipher.KeyId(otherKey), result.Error, StringComparison.Ordinal);
        Assert.Empty(result.Out);
    }

    [Fact]
    public void A_missing_key_file_is_a_usage_error_naming_it()
    {
        CreateEncryptedStore();
        var keyFile = Directory.File("missing.key");

        var result = Run("stats", StorePath, "--key-file", keyFile);

        Assert.Equal(ExitCodes.Usage, result.ExitCode);
        Assert.Contains($"--key-file '{keyFile}' cannot be read", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void Stats_counts_records_that_fail_their_integrity_check()
    {
        CreateEncryptedStore();
        using (var db = new LiteDB.LiteDatabase(StorePath))
        {
            var segments = db.GetCollection("outbox");
            var segment = segments.FindById(1);
            segment["m"][0]["q"] = 2;
            segments.Update(segment);
        }

        var keyFile = Directory.File("store.key");
        File.WriteAllBytes(keyFile, Key);
        var stats = Run("stats", StorePath, "--key-file", keyFile, "--json");
        var verify = Run("verify", StorePath, "--key-file", keyFile);

        Assert.Equal(1, stats.Json.GetProperty("failedIntegrityCheck").GetInt64());
        Assert.Equal(ExitCodes.ProblemsFound, verify.ExitCode);
        Assert.Contains("message 1: failed its integrity check", verify.Out, StringComparison.Ordinal);
    }
}
