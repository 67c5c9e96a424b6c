//! Filing in one message: a school contact with many requests sends each candidate's signed
//! 附件5 as a photo captioned "准考证号 联系方式 理由", checks the summary and presses 提交.
//! Whatever the caption lacks or gets wrong, the /review dialogue asks for, with its way back
//! and /cancel.

use crate::cast::{cast_with, state_of};
use exam_review_bot::domain::Role;
use exam_review_bot::sample;

/// "#12" in a receipt: the request's number.
fn request_number(receipt: &str) -> i64 {
    let after = receipt.split('#').nth(1).unwrap();
    let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_school_contact_files_each_request_in_one_message() {
    let mut c = cast_with(|_| {}).await;
    let pupils = c.h.school_candidates(&sample::school_code(0)).await;
    let contact = &c.contact;

    // One message, one press: two messages back, the summary and the receipt.
    c.h.settle().await;
    let before = c.h.fake.messages_to(contact.id).len();
    contact.send_photo_with_caption(
        "form-a",
        &format!("{} 13800001234 主实验第3题漏评", pupils[0].exam_no),
    );
    let summary = c.h.expect(contact, "请核对申请内容").await;
    assert!(summary.contains(&pupils[0].name), "{summary}");
    assert!(
        summary.contains("本人申请理由：主实验第3题漏评"),
        "{summary}"
    );
    assert!(summary.contains("13800001234"), "{summary}");
    assert!(summary.contains("申请表已附上"), "{summary}");
    contact.press("✅ 提交");
    let receipt = c.h.expect(contact, "已提交").await;
    c.h.settle().await;
    assert_eq!(c.h.fake.messages_to(contact.id).len() - before, 2);
    let id = request_number(&receipt);
    assert_eq!(state_of(&c.h, id).await, "pending");
    // The teacher's card is the one a dialogue's filing gives, with the form behind 📎.
    let card = c.h.expect(&c.teacher, "待您审核").await;
    assert!(card.contains("主实验第3题漏评"), "{card}");
    let mut conn = c.h.app.db.pool.acquire().await.unwrap();
    let (form,): (Option<String>,) =
        sqlx::query_as("SELECT signed_form FROM review_requests WHERE id = $1")
            .bind(id)
            .fetch_one(&mut *conn)
            .await
            .unwrap();
    drop(conn);
    assert_eq!(form.as_deref(), Some("photo:form-a"));

    // A caption without the phone: the dialogue asks for just that, then the summary.
    contact.send_photo_with_caption("form-b", &format!("{} 漏评", pupils[1].exam_no));
    c.h.expect(contact, "联系方式").await;
    contact.send("0391-1234567");
    let summary = c.h.expect(contact, "请核对申请内容").await;
    assert!(summary.contains("本人申请理由：漏评"), "{summary}");

    // Editing from the summary walks every step again: nothing is skipped then.
    contact.press("✏️ 修改");
    c.h.expect(contact, "申请理由").await;
    contact.send("漏评（改）");
    c.h.expect(contact, "联系方式").await;
    contact.send("13900001111");
    c.h.expect(contact, "请核对申请内容").await;
    contact.press("✅ 提交");
    c.h.expect(contact, "已提交").await;

    // A mistyped 准考证号: the usual "not found", and the right number goes straight to the
    // summary with the form, phone and reason kept.
    contact.send_photo_with_caption("form-c", "20239999999 13800001234 合分错误");
    c.h.expect(contact, "未找到本校准考证号").await;
    contact.send(&pupils[2].exam_no);
    let summary = c.h.expect(contact, "请核对申请内容").await;
    assert!(summary.contains(&pupils[2].name), "{summary}");
    assert!(summary.contains("本人申请理由：合分错误"), "{summary}");
    // Cancel leaves nothing filed.
    contact.send("/cancel");
    c.h.expect(contact, "已取消").await;

    // Two photos before 提交: each gets its summary, and only the latest is open. 提交
    // under the older one files nothing: a button never acts on what it did not show.
    contact.send_photo_with_caption("form-x", &format!("{} 13800001234 漏评", pupils[3].exam_no));
    c.h.expect(contact, "请核对申请内容").await;
    contact.send_photo_with_caption("form-y", &format!("{} 13800001234 漏评", pupils[4].exam_no));
    let newer = c.h.expect(contact, "请核对申请内容").await;
    assert!(newer.contains(&pupils[4].name), "{newer}");
    let older =
        c.h.fake
            .messages_to(contact.id)
            .into_iter()
            .find(|m| m.text.contains("请核对申请内容") && m.text.contains(&pupils[3].name))
            .unwrap();
    let (_, submit) = older
        .buttons()
        .into_iter()
        .find(|(label, _)| label == "✅ 提交")
        .unwrap();
    contact.press_data(&older, &submit);
    c.h.settle().await;
    let stale = c.h.fake.callback_answers();
    assert!(stale.last().unwrap().1.contains("已失效"), "{stale:?}");
    contact.press("✅ 提交");
    c.h.expect(contact, "已提交").await;

    // A candidate already filed for: the open request, not a second one.
    contact.send_photo_with_caption(
        "form-d",
        &format!("{} 13800001234 再次申请", pupils[0].exam_no),
    );
    c.h.expect(contact, "已有一份复核申请").await;

    // A photo whose caption is a note, not a filing: how to file in one message.
    contact.send_photo_with_caption("form-e", "申请表");
    c.h.expect(contact, "准考证号 联系方式 理由").await;

    // Someone who may not file, and a stranger, are told so; nothing is filed.
    c.principal
        .send_photo_with_caption("form-f", &format!("{} 13800001234 漏评", pupils[3].exam_no));
    c.h.expect(&c.principal, "您的身份不能提交复核申请").await;
    let stranger = c.h.fake.user(424242, "陌生人");
    stranger.send_photo_with_caption("form-g", &format!("{} 13800001234 漏评", pupils[3].exam_no));
    c.h.expect(&stranger, "专用邀请链接").await;
    // A contact of another school: the number is simply not found there.
    let other =
        c.h.join(Role::SchoolContact, &sample::school_code(2), "三中 联系人")
            .await;
    other.send_photo_with_caption("form-h", &format!("{} 13800001234 漏评", pupils[3].exam_no));
    c.h.expect(&other, "未找到本校准考证号").await;
    other.send("/cancel");
    c.h.expect(&other, "已取消").await;

    let mut conn = c.h.app.db.pool.acquire().await.unwrap();
    let (filed,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM review_requests")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    drop(conn);
    // The two at the start, and the newer of the two photos.
    assert_eq!(filed, 3);
    c.h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn where_no_form_is_asked_for_the_command_alone_files() {
    let c = cast_with(|config| config.review.require_signed_form = false).await;
    let pupil = &c.pupil;
    c.contact
        .send(&format!("/review {} 13800001234 漏评", pupil.exam_no));
    let summary = c.h.expect(&c.contact, "请核对申请内容").await;
    assert!(summary.contains(&pupil.name), "{summary}");
    c.contact.press("✅ 提交");
    c.h.expect(&c.contact, "已提交").await;
    c.h.expect(&c.teacher, "待您审核").await;
    // A bare /review still opens the dialogue at its first step.
    c.contact.send("/review");
    c.h.expect(&c.contact, "准考证号").await;
    c.h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn where_the_form_is_asked_for_the_command_asks_for_it_and_nothing_else() {
    let c = cast_with(|_| {}).await;
    c.contact
        .send(&format!("/review {} 13800001234 漏评", c.pupil.exam_no));
    c.h.expect(&c.contact, "的照片或 PDF").await;
    c.contact
        .send_file("scan-1", "申请表.pdf", "application/pdf");
    let summary = c.h.expect(&c.contact, "请核对申请内容").await;
    assert!(summary.contains("本人申请理由：漏评"), "{summary}");
    c.contact.press("✅ 提交");
    c.h.expect(&c.contact, "已提交").await;
    c.h.stop().await;
}
