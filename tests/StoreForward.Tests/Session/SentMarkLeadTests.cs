using StoreForward.Session;

namespace StoreForward.Tests.Session;

[Trait("Category", "Unit")]
public sealed class SentMarkLeadTests
{
    private const int Window = 10;

    [Fact]
    public void The_first_send_beyond_the_durable_mark_moves_it_a_window_ahead_within_what_is_loaded()
    {
        var lead = new SentMarkLead(durableMark: 100);

        Assert.False(lead.IsBeyond(100));
        Assert.True(lead.IsBeyond(101));
        Assert.Equal(111, lead.Advance(highestSent: 101, loadedThrough: 500, Window));
        Assert.Equal(120, lead.Advance(highestSent: 110, loadedThrough: 120, Window));

        // Nothing more is loaded: the mark stops at the last send, and the next message will need a commit of its own.
        Assert.Equal(121, lead.Advance(highestSent: 121, loadedThrough: 121, Window));
        Assert.True(lead.IsBeyond(122));
    }

    [Fact]
    public void The_mark_moves_again_only_once_half_the_lead_is_used()
    {
        var lead = new SentMarkLead(durableMark: 0);
        Assert.Equal(11, lead.Advance(1, 1000, Window));

        Assert.Null(lead.Advance(6, 1000, Window));
        Assert.Null(lead.Advance(0, 1000, Window));
        Assert.Equal(17, lead.Advance(7, 1000, Window));
        Assert.Equal(17, lead.Mark);
    }

    [Fact]
    public void A_send_waits_for_the_first_pending_commit_that_covers_it_and_for_none_once_it_landed()
    {
        var lead = new SentMarkLead(durableMark: 0);
        var first = new TaskCompletionSource<bool>();
        var second = new TaskCompletionSource<bool>();
        Assert.Equal(11, lead.Advance(1, 1000, Window));
        lead.RecordedBy(first.Task);
        Assert.Equal(17, lead.Advance(7, 1000, Window));
        lead.RecordedBy(second.Task);

        Assert.Same(first.Task, lead.PendingCovering(11));
        Assert.Same(second.Task, lead.PendingCovering(12));

        first.SetResult(true);
        Assert.Null(lead.PendingCovering(11));
        Assert.Same(second.Task, lead.PendingCovering(16));

        second.SetResult(true);
        Assert.Null(lead.PendingCovering(16));
    }

    [Fact]
    public void A_failed_commit_stays_the_one_to_wait_for()
    {
        var lead = new SentMarkLead(durableMark: 0);
        var failed = new TaskCompletionSource<bool>();
        lead.Advance(1, 1000, Window);
        lead.RecordedBy(failed.Task);
        failed.SetException(new IOException("disk full"));

        Assert.Same(failed.Task, lead.PendingCovering(5));
    }
}
