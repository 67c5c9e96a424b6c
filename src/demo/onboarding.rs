//! Section 2 of the demo: the people join without a server shell. One command invites the city
//! admin; the admin sends the candidates roster and the people roster in chat; the people on
//! it join by their links (the QR codes of qr-codes.xlsx carry the same); 东湖区's officer
//! invites its schools' contacts with /invite, a school contact its homeroom teacher.

use super::chats::{Chats, Chatter, invite_code};
use super::{DISTRICTS, Person};
use crate::app::App;
use crate::domain::Role;
use crate::sample;
use anyhow::{Context, bail};
use std::path::Path;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(120);

async fn expect(chats: &Chats, user: &Chatter, needle: &str) -> anyhow::Result<String> {
    chats.expect(user, needle, LIMIT).await
}

/// The newest document sent to `user` named `name`.
fn document(chats: &Chats, user: &Chatter, name: &str) -> anyhow::Result<Vec<u8>> {
    chats
        .documents(user)
        .into_iter()
        .rev()
        .find_map(|(n, b)| (n == name).then_some(b))
        .with_context(|| format!("{name} was not sent"))
}

/// The (name, link) rows of invites.xlsx.
fn links(path: &Path) -> anyhow::Result<Vec<(String, String)>> {
    use calamine::Reader;
    let mut book = calamine::open_workbook_auto(path)?;
    let sheet = book.worksheet_range_at(0).context("a sheet")??;
    Ok(sheet
        .rows()
        .skip(1)
        .map(|r| (r[1].to_string(), r[8].to_string()))
        .collect())
}

/// The people roster the city office fills: the city's organizing group (附件1), every
/// district's officer, and the contacts of every school outside 东湖区 (东湖区 invites its own).
fn people_roster(units: &[sample::SampleUnit]) -> String {
    let mut text = "姓名,角色,单位代码,班级,手机,职务\n".to_string();
    let city = &units[0].code;
    text.push_str(&format!(
        "市教育局 吴局长,市级管理员,{city},,0391-3000001,组长\n"
    ));
    text.push_str(&format!(
        "市教育局 郑副局长,市级管理员,{city},,0391-3000002,副组长\n"
    ));
    for (i, d) in units[1..=DISTRICTS].iter().enumerate() {
        text.push_str(&format!(
            "{} 装备管理员,县区装备管理,{},,0391-31{:05},办公室主任\n",
            d.name, d.code, i
        ));
    }
    let east = sample::district_code(0);
    for s in &units[DISTRICTS + 1..] {
        if s.parent != east {
            text.push_str(&format!("{} 联系人,学校联系人,{},,,\n", s.name, s.code));
        }
    }
    text
}

/// Everyone of the later sections joins; returns them: the city admin first, then the district
/// officers and the school contacts in the units' order, then the homeroom teacher.
pub(super) async fn onboarding(
    app: &App,
    chats: &Chats,
    out: &Path,
    units: &[sample::SampleUnit],
    roster_csv: &str,
) -> anyhow::Result<Vec<Person>> {
    println!("== 2. 工作人员加入：服务器上只邀请市级管理员，其余都在聊天中完成");
    let city = &units[0];
    let admin_name = "市装备中心 周主任";
    let link = app
        .invite(Role::CityAdmin, &city.code, admin_name, None)
        .await?;
    let admin = chats.user(1001, admin_name);
    admin.send(&format!("/start {}", invite_code(&link)?));
    expect(chats, &admin, "绑定成功").await?;

    // The candidates roster, sent as a file: checked, previewed, imported after ✅.
    admin.send_sheet("报名名单.csv", sample::gb18030(roster_csv));
    expect(chats, &admin, "核对无误").await?;
    admin.press("✅ 确认导入");
    let done = expect(chats, &admin, "已导入").await?;
    println!("市级管理员在聊天中发送报名名单：{}", done.trim());

    // The people roster: every row becomes an invite; the links and QR codes come back.
    let roster = sample::scores_xlsx(&people_roster(units))?;
    admin.send_sheet("人员名单.xlsx", roster);
    expect(chats, &admin, "人员名单").await?;
    admin.press("✅ 确认导入");
    let made = expect(chats, &admin, "个邀请").await?;
    println!(
        "市级管理员发送人员名单：{}",
        made.lines().next().unwrap_or_default()
    );
    let invites = out.join("invites");
    std::fs::create_dir_all(&invites)?;
    for name in ["invites.xlsx", "qr-codes.xlsx"] {
        let deadline = std::time::Instant::now() + LIMIT;
        let bytes = loop {
            match document(chats, &admin, name) {
                Ok(b) => break b,
                Err(_) if std::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await
                }
                Err(e) => return Err(e),
            }
        };
        crate::store::write_private(&invites.join(name), &bytes)?;
    }
    let links = links(&invites.join("invites.xlsx"))?;
    println!(
        "{} 个邀请链接与二维码（每个单位一页）在 {}",
        links.len(),
        invites.display()
    );

    let mut people = vec![Person {
        user: admin.clone(),
        label: format!("{admin_name}（{}）", city.name),
    }];
    let mut waiting = Vec::new();
    // Each person on the roster scans their code: the link in it.
    for (id, unit) in (1002..).zip(&units[1..]) {
        let name = if unit.kind == "县区" {
            format!("{} 装备管理员", unit.name)
        } else {
            format!("{} 联系人", unit.name)
        };
        let user = chats.user(id, &name);
        if let Some((_, link)) = links.iter().find(|(n, _)| *n == name) {
            user.send(&format!("/start {}", invite_code(link)?));
            waiting.push(user.clone());
        }
        people.push(Person {
            user,
            label: format!("{name}（{}）", unit.name),
        });
    }
    for user in &waiting {
        expect(chats, user, "绑定成功").await?;
    }

    // 东湖区's officer invites the district's school contacts in chat.
    let officer = people[1].user.clone();
    let east = sample::district_code(0);
    for (i, school) in units.iter().enumerate().filter(|(_, u)| u.parent == east) {
        officer.send("/invite");
        expect(chats, &officer, "请选择要邀请的角色").await?;
        officer.press("学校联系人");
        expect(chats, &officer, "请选择单位").await?;
        officer.press(&school.name);
        expect(chats, &officer, "请输入被邀请人的姓名").await?;
        let name = format!("{} 联系人", school.name);
        officer.send(&name);
        expect(chats, &officer, "职务").await?;
        officer.press("不填职务");
        let answer = expect(chats, &officer, "生成一次性邀请链接").await?;
        let contact = people[i].user.clone();
        contact.send(&format!("/start {}", invite_code(&answer)?));
        expect(chats, &contact, "绑定成功").await?;
    }
    println!("东湖区装备管理员用 /invite 邀请了本区 4 所学校的联系人");

    // A school contact invites a homeroom teacher of a class in the roster.
    let school = &units[DISTRICTS + 2];
    let contact = people[DISTRICTS + 2].user.clone();
    contact.send("/invite");
    expect(chats, &contact, "请选择要邀请的角色").await?;
    contact.press("班主任");
    expect(chats, &contact, "请选择班级").await?;
    let class = chats
        .button_labels_of_last(&contact)
        .into_iter()
        .next()
        .context("a class button")?;
    contact.press(&class);
    expect(chats, &contact, "请输入被邀请人的姓名").await?;
    let name = format!("{} {class} 班主任", school.name);
    contact.send(&name);
    expect(chats, &contact, "职务").await?;
    contact.press("不填职务");
    let answer = expect(chats, &contact, "生成一次性邀请链接").await?;
    let teacher = chats.user(1901, &name);
    teacher.send(&format!("/start {}", invite_code(&answer)?));
    expect(chats, &teacher, "绑定成功").await?;
    expect(chats, &contact, "已加入").await?;
    contact.send("/contacts");
    expect(chats, &contact, "组织机构与联系人").await?;
    println!("{} 的联系人用 /invite 邀请了{class}的班主任", school.name);
    people.push(Person {
        user: teacher,
        label: format!("{name}（{}）", school.name),
    });
    if people.len() != units.len() + 1 {
        bail!("{} people joined, not {}", people.len(), units.len() + 1);
    }
    println!("{} 人已加入", people.len());
    Ok(people)
}
