//! Onboarding a city without a server shell: the city office hands in its people roster and
//! gets a link and a QR code per person back; files sent to the bot in chat are recognised,
//! checked and imported only after ✅, exactly as the command line would.

use crate::support::*;
use exam_review_bot::app::Origin;
use exam_review_bot::domain::Role;
use exam_review_bot::import::Refused;
use exam_review_bot::sample;
use exam_review_bot::store::{people, units};

/// Decodes a QR code PNG back to its text.
pub fn scan(png_bytes: &[u8]) -> String {
    let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let (w, h) = (info.width as usize, info.height as usize);
    let mut img = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| buf[y * w + x]);
    let grids = img.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code in the picture");
    grids[0].decode().unwrap().1
}

/// How many parts of an .xlsx (a zip) have names beginning with `prefix`: a part's name is
/// stored uncompressed twice, in its local header and in the central directory.
pub fn parts(xlsx: &[u8], prefix: &str) -> usize {
    xlsx.windows(prefix.len())
        .filter(|w| *w == prefix.as_bytes())
        .count()
        / 2
}

fn roster(rows: &[&str]) -> String {
    let mut text = "姓名,角色,单位代码,班级,手机,职务\n".to_string();
    for r in rows {
        text.push_str(r);
        text.push('\n');
    }
    text
}

async fn invites_count(h: &Harness) -> i64 {
    let mut conn = h.app.db.pool.acquire().await.unwrap();
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM invites")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_roster_with_bad_rows_is_refused_whole_and_each_bad_row_is_named() {
    let h = Harness::start().await;
    h.sample_city().await;
    let (d1, s1) = (sample::district_code(0), sample::school_code(0));
    let text = roster(&[
        &format!("王校长,校长,{s1},,13800000001,"),
        "赵老师,班主任,NOPE,九年级1班,,",
        &format!("钱老师,体育委员,{s1},,,"),
        &format!("孙老师,班主任,{s1},,,"),
        &format!("李主任,县区装备管理,{d1},,,办公室主任"),
        &format!("李主任,district-officer,{d1},,,"),
    ]);
    let path = h.write("people.csv", text.as_bytes());
    let before = invites_count(&h).await;
    let err = h
        .app
        .invite_roster(Origin::cli(&path), &path)
        .await
        .expect_err("a roster with bad rows is refused");
    let refused = err
        .downcast_ref::<Refused>()
        .expect("refused with its problems");
    let named: Vec<(usize, &str)> = refused
        .problems
        .iter()
        .map(|p| (p.row, p.column.as_str()))
        .collect();
    assert_eq!(
        named,
        [(3, "单位代码"), (4, "角色"), (5, "班级"), (7, "姓名")],
        "unknown unit, unknown role, a homeroom teacher without a class, the same person twice"
    );
    assert_eq!(invites_count(&h).await, before, "nothing was written");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_good_roster_gives_every_person_a_working_link_and_a_qr_code_that_scans_to_it() {
    let h = Harness::start().await;
    h.sample_city().await;
    let (d1, s1) = (sample::district_code(0), sample::school_code(0));
    let text = roster(&[
        &format!("王校长,校长,{s1},,13800000001,"),
        &format!("赵老师,班主任,{s1},九年级1班,,"),
        &format!("李主任,县区装备管理,{d1},,0391-1234567,办公室主任"),
    ]);
    let path = h.write("people.csv", sample::gb18030(&text).as_slice());
    let out = h.dir().join("invites-out");
    let status = std::process::Command::new(binary())
        .args(["invite", "--from"])
        .arg(&path)
        .arg("--out")
        .arg(&out)
        .env("DATABASE_URL", &h.db.url)
        .env("BOT_USERNAME", fake_telegram::BOT_USERNAME)
        .env("RUST_LOG", "warn")
        .current_dir(h.dir())
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    assert!(String::from_utf8_lossy(&status.stdout).contains("3 invite(s)"));

    // invites.xlsx: a row per person with the link; each PNG scans to that person's link.
    let list = h.cells(&std::fs::read(out.join("invites.xlsx")).unwrap());
    assert_eq!(list.len(), 4);
    assert_eq!(list[0][1], "姓名");
    let mut pngs: Vec<_> = std::fs::read_dir(out.join("qr"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    pngs.sort();
    assert_eq!(pngs.len(), 3);
    for (row, png) in list[1..].iter().zip(&pngs) {
        let link = &row[8];
        assert!(link.starts_with("https://t.me/"), "{link}");
        assert_eq!(&scan(&std::fs::read(png).unwrap()), link);
    }
    // The printable sheet carries the pictures.
    let qr_book = std::fs::read(out.join("qr-codes.xlsx")).unwrap();
    assert_eq!(
        parts(&qr_book, "xl/media/image"),
        3,
        "a QR picture per person"
    );

    // Each link binds its person, in the role and unit of their row.
    for (i, row) in list[1..].iter().enumerate() {
        let user = h.fake.user(5000 + i as i64, &row[1]);
        let code = row[8].rsplit('=').next().unwrap();
        user.send(&format!("/start {code}"));
        h.wait_for_text(&user, "绑定成功").await;
        let mut conn = h.app.db.pool.acquire().await.unwrap();
        let bound = people::of_user(&mut conn, user.id).await.unwrap();
        assert_eq!(bound[0].name, row[1]);
        assert_eq!(bound[0].unit_code, row[3]);
    }
    // The same roster again: the bound are not invited twice.
    let again = h
        .app
        .invite_roster(Origin::cli(&path), &path)
        .await
        .unwrap();
    assert!(again.issued.is_empty());
    assert_eq!(again.already_bound.len(), 3);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_units_file_sent_in_chat_imports_only_after_confirm_and_as_the_command_line_would() {
    let mut h = Harness::start().await;
    let city = sample::units(2, 5);
    let csv = sample::units_csv(&city);
    // The city admin exists before any units but the city itself.
    let first = h.write("city.csv", sample::units_csv(&city[..1]).as_bytes());
    h.app.import_units(&first).await.unwrap();
    let admin = h.join(Role::CityAdmin, sample::CITY_CODE, "市管理员").await;

    // A first, smaller file is previewed and then superseded by the whole one: its card's ✅
    // imports neither.
    let smaller = sample::units_csv(&city[..3]);
    admin.send_sheet("units-small", "units-small.csv", smaller.into_bytes());
    h.expect(&admin, "单位 3 个").await;
    let old_card = h.fake.messages_to(admin.id).last().unwrap().clone();
    admin.send_sheet("units-file", "units.csv", csv.clone().into_bytes());
    let preview = h.expect(&admin, "核对无误").await;
    let (_, old_ok) = old_card.buttons().into_iter().next().unwrap();
    admin.press_data(&old_card, &old_ok);
    let stale = h
        .fake
        .wait_until(std::time::Duration::from_secs(10), |f| {
            f.callback_answers()
                .iter()
                .any(|(_, t, _)| t.contains("旧消息"))
        })
        .await;
    assert!(stale, "the superseded card's ✅ is stale");
    assert!(
        preview.contains(&format!("单位 {} 个", city.len())),
        "{preview}"
    );
    {
        let mut conn = h.app.db.pool.acquire().await.unwrap();
        let known = units::all(&mut conn).await.unwrap();
        assert_eq!(known.len(), 1, "nothing is imported before ✅");
    }
    admin.press("✅ 确认导入");
    h.expect(&admin, "已导入").await;
    let by_chat = {
        let mut conn = h.app.db.pool.acquire().await.unwrap();
        units::all(&mut conn).await.unwrap()
    };

    // The same file on the command line, on a fresh database.
    let cli = Harness::start().await;
    let path = cli.write("units.csv", csv.as_bytes());
    cli.app.import_units(&path).await.unwrap();
    let mut conn = cli.app.db.pool.acquire().await.unwrap();
    assert_eq!(units::all(&mut conn).await.unwrap(), by_chat);
    drop(conn);
    cli.stop().await;

    // A file with bad rows: every row named, nothing imported.
    let bad = "代码,名称,类型,上级代码\nX1,,学校,9900\nX2,某校,学堂,9900\n";
    admin.send_sheet("bad-units", "bad.csv", bad.as_bytes().to_vec());
    let said = h.expect(&admin, "未导入").await;
    assert!(
        said.contains("第 2 行") && said.contains("第 3 行"),
        "{said}"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_from_someone_not_allowed_is_refused_and_never_downloaded() {
    let mut h = Harness::start().await;
    h.sample_city().await;
    let contact = h
        .join(Role::SchoolContact, &sample::school_code(0), "学校联系人")
        .await;
    let csv = sample::units_csv(&sample::units(2, 5));
    contact.send_sheet("contact-units", "units.csv", csv.into_bytes());
    h.expect(&contact, "登分员").await;
    h.settle().await;
    assert!(
        !h.fake.calls().iter().any(|c| c.method == "getfile"),
        "the file was never fetched"
    );
    let mut conn = h.app.db.pool.acquire().await.unwrap();
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM dialogues")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(n, 0, "nothing of it is kept");
    drop(conn);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_people_roster_sent_in_chat_comes_back_as_links_and_qr_codes() {
    let mut h = Harness::start().await;
    h.sample_city().await;
    let admin = h.join(Role::CityAdmin, sample::CITY_CODE, "市管理员").await;
    let s1 = sample::school_code(0);
    let text = roster(&[
        &format!("王校长,校长,{s1},,13800000001,"),
        &format!("赵老师,班主任,{s1},九年级1班,,"),
    ]);
    admin.send_sheet("people-file", "people.csv", text.into_bytes());
    h.expect(&admin, "人员名单 2 人").await;
    admin.press("✅ 确认导入");
    h.expect(&admin, "已生成 2 个邀请").await;
    h.settle().await;
    let docs: Vec<_> = h
        .fake
        .messages_to(admin.id)
        .into_iter()
        .filter_map(|m| m.document)
        .collect();
    let names: Vec<&str> = docs.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["invites.xlsx", "qr-codes.xlsx"]);
    let list = h.cells(&docs[0].1);
    assert_eq!(list.len(), 3);
    // The invites name the admin as their issuer: they hear who joined.
    let teacher = h.fake.user(7001, "赵老师");
    let code = list[2][8].rsplit('=').next().unwrap().to_string();
    teacher.send(&format!("/start {code}"));
    h.wait_for_text(&teacher, "绑定成功").await;
    h.expect(&admin, "赵老师").await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contacts_show_the_organizing_group_of_ones_own_unit_and_above_in_the_documents_order() {
    let h = Harness::start().await;
    h.sample_city().await;
    let city = sample::CITY_CODE;
    let (d1, d2, s1) = (
        sample::district_code(0),
        sample::district_code(1),
        sample::school_code(0),
    );
    let text = roster(&[
        &format!("周副局长,市级管理员,{city},,13900000002,副组长"),
        &format!("吴局长,市级管理员,{city},,13900000001,组长"),
        &format!("郑主任,市级管理员,{city},,0391-2000000,办公室主任"),
        &format!("李主任,县区装备管理,{d1},,0391-1234567,办公室主任"),
        &format!("邻县主任,县区装备管理,{d2},,0391-7654321,办公室主任"),
        &format!("王老师,学校联系人,{s1},,13800000009,"),
    ]);
    let path = h.write("people.csv", text.as_bytes());
    let made = h
        .app
        .invite_roster(Origin::cli(&path), &path)
        .await
        .unwrap();
    let contact = made
        .issued
        .iter()
        .find(|i| i.person.name == "王老师")
        .unwrap();
    let user = h.fake.user(6001, "王老师");
    let code = contact.link.rsplit('=').next().unwrap();
    user.send(&format!("/start {code}"));
    h.wait_for_text(&user, "绑定成功").await;

    user.send("/contacts");
    let said = h.expect(&user, "组织机构与联系人").await;
    let order: Vec<usize> = [
        "组长：吴局长",
        "副组长：周副局长",
        "办公室主任：郑主任",
        "办公室主任：李主任",
    ]
    .iter()
    .map(|n| {
        said.find(n)
            .unwrap_or_else(|| panic!("{n} missing from:\n{said}"))
    })
    .collect();
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "附件1's order, the city first:\n{said}"
    );
    assert!(said.contains("0391-1234567"), "with phone numbers");
    assert!(!said.contains("邻县主任"), "not another district's office");
    assert!(!said.contains("王老师"), "nobody without a title");
    h.stop().await;
}
