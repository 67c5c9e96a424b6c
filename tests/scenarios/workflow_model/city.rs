//! The app's side: the city every sequence starts from (prepared once, copied per sequence),
//! the dialogues played as the people would type them, and the check that the database and
//! the outbox agree with the model after every action.

use super::world::{At, BINDINGS, Filed, Mark, PEOPLE, Pupil, SAMPLE_SCHOOL, World, user};
use crate::support::*;
use exam_review_bot::app::{Actor, App};
use exam_review_bot::clock::ManualClock;
use exam_review_bot::domain::Role;
use exam_review_bot::domain::attachment::Attachment;
use exam_review_bot::sample;
use exam_review_bot::store::Db;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The city every sequence starts from, prepared once.
pub struct Prepared {
    pub dir: tempfile::TempDir,
    pub template: PathBuf,
    pub pupils: Vec<Pupil>,
    pub start: chrono::DateTime<chrono::Utc>,
    /// The review window's end: nothing below the city acts after it.
    pub deadline: chrono::DateTime<chrono::Utc>,
    /// Filing closes a day earlier (review.filing_closes_hours), and with it returns.
    pub filing_closes: chrono::DateTime<chrono::Utc>,
}

pub fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

fn mark(c: &exam_review_bot::store::candidates::Candidate) -> Mark {
    let items = match (c.item_main, c.item_sec1, c.item_sec2, c.item_tidy) {
        (Some(a), Some(b), Some(c), Some(d)) => Some([a, b, c, d]),
        _ => None,
    };
    Mark {
        total: c.score,
        items,
    }
}

/// The configuration the model plays on. No bot runs here, so every card stays waiting in the
/// outbox and would be folded into a batch card, whose buttons act only on what a page showed;
/// the model presses each card as if it had been sent, so cards are never folded. Batch cards
/// have their own story (`batch_cards`).
pub fn model_config(url: &str) -> exam_review_bot::config::Config {
    let mut config = test_config(url);
    config.delivery.fold_cards_at = 0;
    config
}

/// The sample city, published before anyone is bound (so a 发布 in a sequence is the one that
/// reaches the contacts), with the model's people bound by invitation.
pub async fn prepare() -> Prepared {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("city.db");
    let start = shanghai(2023, 4, 29, 10, 0);
    let clock = ManualClock::new(start);
    let app = App::new(
        Db::open(&sqlite_url(&path)).await.unwrap(),
        model_config(&sqlite_url(&path)),
        Arc::new(clock),
    )
    .unwrap();
    sample::load_city(&app, dir.path(), DISTRICTS, SCHOOLS, CANDIDATES, 7)
        .await
        .unwrap();
    app.publish(Actor::Cli, None).await.unwrap();
    let mut pupils = Vec::new();
    let mut classes: Vec<Vec<String>> = Vec::new();
    for (school, sample_school) in SAMPLE_SCHOOL.iter().enumerate() {
        let mut conn = app.db.pool.acquire().await.unwrap();
        let season = app.cli_season().await.unwrap().unwrap();
        let all = exam_review_bot::store::candidates::of_school(
            &mut conn,
            season.id,
            &sample::school_code(*sample_school),
        )
        .await
        .unwrap();
        let mut names: Vec<String> = all.iter().map(|c| c.class_name.clone()).collect();
        names.sort();
        names.dedup();
        for (class, name) in names.iter().take(2).enumerate() {
            let c = all.iter().find(|c| &c.class_name == name).unwrap();
            pupils.push(Pupil {
                school,
                class,
                exam_no: c.exam_no.clone(),
                candidate_id: c.id,
                mark: mark(c),
            });
        }
        classes.push(names);
    }
    for (user, role, at, class) in BINDINGS {
        let unit = match at {
            At::School(s) => sample::school_code(SAMPLE_SCHOOL[s]),
            At::District(d) => sample::district_code(d),
            At::City => sample::CITY_CODE.to_string(),
        };
        let class = match (at, class) {
            (At::School(s), Some(k)) => Some(classes[s][k].clone()),
            _ => None,
        };
        let link = app
            .invite(role, &unit, &format!("用户{user}"), class.as_deref())
            .await
            .unwrap();
        app.start(user, user, link.rsplit('=').next())
            .await
            .unwrap();
    }
    let mut conn = app.db.pool.acquire().await.unwrap();
    let season = app.cli_season().await.unwrap().unwrap();
    let deadline = season.review_deadline.unwrap();
    let template = dir.path().join("template.db");
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "VACUUM INTO '{}'",
        template.display()
    )))
    .execute(&mut *conn)
    .await
    .unwrap();
    Prepared {
        dir,
        template,
        pupils,
        start,
        deadline,
        filing_closes: deadline - chrono::Duration::hours(24),
    }
}

/// Files through the dialogue as the person would; the request's id when it was filed.
pub async fn file(app: &App, user: i64, exam_no: &str) -> Option<i64> {
    let newest = || async {
        let mut conn = app.db.pool.acquire().await.unwrap();
        let (id,): (Option<i64>,) = sqlx::query_as("SELECT MAX(id) FROM review_requests")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        id
    };
    let before = newest().await;
    app.cancel(user, user).await.unwrap();
    app.review_command(user, user).await.unwrap();
    app.dialogue_text(user, user, exam_no).await.unwrap();
    let form = Attachment::Photo(format!("form-{exam_no}"));
    app.dialogue_non_text(user, user, Some(form)).await.unwrap();
    app.dialogue_text(user, user, "主实验漏评").await.unwrap();
    app.dialogue_text(user, user, "13800001234").await.unwrap();
    app.dialogue_button(user, user, "confirm", "submit", "")
        .await
        .unwrap();
    let after = newest().await;
    (after != before).then_some(after).flatten()
}

/// The result a recorder records for `now`: kept, or one point more on the first item below
/// its maximum (one point less when every item is full), the total with it.
pub fn correction(now: Mark) -> Mark {
    let m = exam_review_bot::config::Config::default().rules.item_maxima;
    let limits = [m.main, m.secondary_one, m.secondary_two, m.tidying].map(|p| i64::from(p) * 10);
    match now.items {
        Some(mut items) => {
            match (0..4).find(|i| items[*i] + 10 <= limits[*i]) {
                Some(i) => items[i] += 10,
                None => items[0] -= 10,
            }
            Mark {
                total: items.iter().sum(),
                items: Some(items),
            }
        }
        None if now.total >= 10 => Mark {
            total: now.total - 10,
            items: None,
        },
        None => Mark {
            total: now.total + 10,
            items: None,
        },
    }
}

fn points(tenths: i64) -> String {
    exam_review_bot::domain::Score::from_tenths(tenths as u32).to_string()
}

/// The recording dialogue after 维持原成绩 or 更正成绩, answered to the end.
pub async fn record(app: &App, person: usize, to: Option<Mark>) -> anyhow::Result<()> {
    let u = user(person);
    if let Some(m) = to {
        app.dialogue_text(u, u, &points(m.total)).await?;
        if let Some(items) = m.items {
            let text: Vec<String> = items.iter().map(|v| points(*v)).collect();
            app.dialogue_text(u, u, &text.join(" ")).await?;
        }
        app.dialogue_button(u, u, "category", "cat1", "").await?;
    }
    app.dialogue_text(u, u, "副实验第2项漏评，已核对").await?;
    app.dialogue_button(u, u, "confirm", "submit", "").await?;
    Ok(())
}

async fn count(app: &App, sql: &'static str, like: String) -> i64 {
    let mut conn = app.db.pool.acquire().await.unwrap();
    let (n,): (i64,) = sqlx::query_as(sql)
        .bind(like)
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    n
}

/// The app agrees with the model: every request's state, step and round; every approval
/// recorded once and told once; every result sent once to each of its chats; each score as
/// the signed results left it, with one history row per change; the publication notice once
/// to each contact who was bound at a 发布.
pub async fn check(app: &App, w: &World) -> Result<(), String> {
    let mut conn = app.db.pool.acquire().await.unwrap();
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM review_requests")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    if n as usize != w.filed.len() {
        return Err(format!("{n} requests, the model has {}", w.filed.len()));
    }
    for f in &w.filed {
        let (state, step, round): (String, i64, i64) =
            sqlx::query_as("SELECT state, step, round FROM review_requests WHERE id = $1")
                .bind(f.id)
                .fetch_one(&mut *conn)
                .await
                .unwrap();
        let (s, at) = f.stand.db();
        if state != s || at.is_some_and(|a| a != step) || round != f.round {
            return Err(format!(
                "request {}: {state} step {step} round {round}, the model {:?} round {}",
                f.id, f.stand, f.round
            ));
        }
        check_told(app, f).await?;
    }
    for pu in &w.pupils {
        let (score, a, b, c, d): (i64, Option<i64>, Option<i64>, Option<i64>, Option<i64>) =
            sqlx::query_as(
                "SELECT score, item_main, item_sec1, item_sec2, item_tidy FROM candidates
                 WHERE id = $1",
            )
            .bind(pu.candidate_id)
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        let items = a.zip(b).zip(c).zip(d).map(|(((a, b), c), d)| [a, b, c, d]);
        if score != pu.mark.total || items != pu.mark.items {
            return Err(format!(
                "{}: score {score} {items:?}, the model {:?}",
                pu.exam_no, pu.mark
            ));
        }
    }
    let history: Vec<(i64, i64, i64)> =
        sqlx::query_as("SELECT request_id, old_score, new_score FROM score_history ORDER BY id")
            .fetch_all(&mut *conn)
            .await
            .unwrap();
    if history != w.history {
        return Err(format!(
            "score history {history:?}, the model {:?}",
            w.history
        ));
    }
    drop(conn);
    for person in 0..PEOPLE {
        let contact = BINDINGS
            .iter()
            .any(|b| b.0 == user(person) && b.1 == Role::SchoolContact);
        if !contact {
            continue;
        }
        let mut conn = app.db.pool.acquire().await.unwrap();
        let (notices,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM outbox WHERE chat_id = $1 AND body LIKE '%中招实验考试成绩通知%'",
        )
        .bind(user(person))
        .fetch_one(&mut *conn)
        .await
        .unwrap();
        if notices > 1 || (w.noticed[person] && notices != 1) {
            return Err(format!(
                "user {}: {notices} publication notices, the model {}",
                user(person),
                u8::from(w.noticed[person])
            ));
        }
    }
    Ok(())
}

/// Each approval of `f` recorded once and told once (a 班主任's by filing is told by the filing
/// itself); its result, once complete, sent once to each of its chats and never before.
async fn check_told(app: &App, f: &Filed) -> Result<(), String> {
    let approvals = approvals(app, f.id).await;
    let told = count(
        app,
        "SELECT COUNT(*) FROM outbox WHERE body LIKE $1 AND body LIKE '%已同意%'",
        format!("%申请 #{}（%", f.id),
    )
    .await;
    let model = f.approvals.len() as i64;
    if approvals != model || told != model - f.by_filing {
        return Err(format!(
            "request {}: {approvals} approvals recorded and {told} announced, the model {model}",
            f.id
        ));
    }
    let results = count(
        app,
        "SELECT COUNT(*) FROM outbox WHERE body LIKE $1",
        format!("%成绩复核结果</b>（申请 #{}）%", f.id),
    )
    .await;
    if results != f.told as i64 {
        return Err(format!(
            "request {}: its result sent {results} times, the model {}",
            f.id, f.told
        ));
    }
    Ok(())
}
