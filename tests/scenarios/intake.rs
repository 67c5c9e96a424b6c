//! A crowd writing at once: the bot takes updates from Telegram only as fast as it handles them
//! (`telegram.updates_in_flight`), and still answers everyone.

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crowd_is_taken_a_few_at_a_time_and_everyone_is_answered() {
    let h = Harness::start_with(|c| {
        c.telegram.updates_in_flight = 3;
        // Strangers are answered once a minute by default; this crowd is about intake.
        c.limits.unbound_replies_per_minute = 10;
    })
    .await;
    // Forty strangers write within the same moment, two messages each.
    let crowd: Vec<_> = (0..40).map(|i| h.fake.user(70_000 + i, "路人")).collect();
    for user in &crowd {
        user.send("/whoami");
        user.send("你好");
    }
    for user in &crowd {
        h.expect(user, "仅供中招实验考试工作人员使用").await;
        h.expect(user, "仅供中招实验考试工作人员使用").await;
    }

    let batches = h.fake.update_batches();
    let taken: usize = batches.iter().map(|(_, n)| n).sum();
    assert_eq!(taken, 80, "every update taken exactly once: {batches:?}");
    assert!(
        batches.iter().all(|&(limit, n)| limit <= 3 && n <= 3),
        "never more than 3 updates asked for or taken at once: {batches:?}"
    );
    h.stop().await;
}

/// A message JSON cannot carry (a lone surrogate escape) arrives among others: it fails the
/// getUpdates answer as a whole, which used to leave every later message unanswered while
/// polling backed off. Now the answer is read update by update and only that one is skipped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_the_bot_cannot_read_is_skipped_and_the_others_are_answered() {
    let h = Harness::start_with(|c| c.limits.unbound_replies_per_minute = 10).await;
    let sender = h.fake.user(71_001, "乱码");
    let neighbour = h.fake.user(71_002, "路人");
    sender.send_unreadable();
    neighbour.send("/whoami");
    h.expect(&neighbour, "仅供中招实验考试工作人员使用").await;
    // The one that could not be read is counted, not answered; the bot keeps polling past it.
    let skipped = &h.app.counters.updates_skipped;
    assert_eq!(skipped.load(std::sync::atomic::Ordering::Relaxed), 1);
    sender.send("/whoami");
    h.expect(&sender, "仅供中招实验考试工作人员使用").await;
    assert_eq!(h.fake.messages_to(sender.id).len(), 1);
    h.stop().await;
}
