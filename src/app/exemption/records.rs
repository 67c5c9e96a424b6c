//! The exemption's records: 附件3 免考汇总表 of a county, a city-direct school or the whole
//! city (its approved candidates), and 附件2 of one application, printable, with every level's
//! opinion, name and time.

use crate::app::App;
use crate::app::records::{Record, Reported};
use crate::app::workflow::{Ctx, Identifiers, applicant_line};
use crate::domain::exemption::Details;
use crate::domain::workflow::Scope;
use crate::export::exemption_form::{self, Form};
use crate::export::exemption_summary::Line;
use crate::export::summary::Table;
use crate::render::tpl;
use crate::store::Conn;
use crate::store::seasons::Season;
use crate::store::units::Unit;
use crate::store::{reviews, roster, units};

impl App {
    /// The season's approved 免考 candidates of the schools `in_scope` admits (of the season's
    /// city).
    pub(crate) async fn approved_exemptions(
        &self,
        conn: &mut Conn,
        season: &Season,
        in_scope: impl Fn(&Unit) -> bool,
    ) -> anyhow::Result<Reported<Line>> {
        let mut approved = Reported::load(conn, season).await?;
        for app in roster::applications(conn, season.id, "completed").await? {
            let Some(school) = approved.units.get(&app.row.school_code).cloned() else {
                continue;
            };
            if !in_scope(&school) {
                continue;
            }
            let details: Option<Details> = app
                .details
                .as_deref()
                .and_then(|d| serde_json::from_str(d).ok());
            let line = Line {
                school: school.name.clone(),
                name: app.row.name.clone(),
                class_name: app.row.class_name.clone(),
                reg_no: app.row.reg_no.clone(),
                exam_no: app.row.exam_no.clone(),
                contact: details
                    .as_ref()
                    .map_or(String::new(), |d| d.contact.clone()),
                note: details.map_or(String::new(), |d| d.proof.label().to_string()),
            };
            approved.place(&school, line);
        }
        Ok(approved)
    }

    /// An application's 一寸 photo, fetched where a file source is set (a running bot); None for
    /// a review, without a source, or when the fetch fails or takes too long (the form's photo
    /// box then says where the photo is).
    pub(crate) async fn exemption_photo(&self, id: i64) -> Option<Vec<u8>> {
        let source = self.files.get()?.clone();
        let photo = {
            let mut conn = self.db.pool.acquire().await.ok()?;
            let req = reviews::get(&mut conn, id).await.ok()??;
            let details: Details = serde_json::from_str(req.details.as_deref()?).ok()?;
            crate::domain::attachment::Attachment::parse(&details.photo)?
        };
        let limit = std::time::Duration::from_secs(15);
        match tokio::time::timeout(limit, source.fetch(&photo)).await {
            Ok(Ok(bytes)) => Some(bytes),
            Ok(Err(e)) => {
                tracing::warn!("fetching the photo of exemption {id} failed: {e:#}");
                None
            }
            Err(_) => {
                tracing::warn!("fetching the photo of exemption {id} took over 15 s");
                None
            }
        }
    }

    /// 附件2 of one application: the candidate's fields, the application, and each level's
    /// opinion in its box, and the photo when it was fetched (the bot keeps Telegram's
    /// reference to it, not the picture; without it the photo box says where it is).
    pub(crate) async fn exemption_form_record(
        &self,
        conn: &mut Conn,
        ctx: &Ctx,
        photo: Option<Vec<u8>>,
        ids: Identifiers,
    ) -> anyhow::Result<Record> {
        let tz = ctx.season.tz;
        let c = &ctx.cand;
        let details: Option<Details> = ctx
            .req
            .details
            .as_deref()
            .and_then(|d| serde_json::from_str(d).ok());
        let city = units::get(conn, &ctx.city)
            .await?
            .map_or(String::new(), |u| u.name);
        let unit = ctx
            .district
            .as_ref()
            .map_or(ctx.school.name.clone(), |d| d.name.clone());
        let mut form = Form {
            year: ctx.season.year,
            city,
            name: c.name.clone(),
            gender: c.gender.clone(),
            age: details
                .as_ref()
                .map_or(String::new(), |d| d.age.to_string()),
            school: ctx.school.name.clone(),
            class_name: c.class_name.clone(),
            id_card: ids.show(&c.id_card),
            student_no: ids.show(&c.student_no),
            reg_no: c.reg_no.clone(),
            exam_no: c.exam_no.clone(),
            contact_person: details
                .as_ref()
                .map_or(String::new(), |d| d.contact_person.clone()),
            contact: ctx.req.contact.clone(),
            reason: match &details {
                Some(d) => format!("{}（证明：{}）", d.reason, d.proof.label()),
                None => ctx.req.reason.clone(),
            },
            filed: applicant_line(ctx),
            parent: vec![match ctx.req.signed_form() {
                Some(_) => "学生本人与家长签字的申请页已附（电子档案）".to_string(),
                None => String::new(),
            }],
            unit,
            photo,
            ..Form::default()
        };
        for e in reviews::events(conn, ctx.req.id).await? {
            let Some(step) = e.step.and_then(|s| ctx.route.steps.get(s as usize)) else {
                continue;
            };
            let text = self.opinion_line(&step.name, &e, tz, tpl::EXEMPT_ACTION)?;
            let place = match (step.unit, step.role) {
                (Scope::Class, _) => &mut form.homeroom,
                (Scope::School, _) => &mut form.school_opinions,
                (Scope::District, _) => &mut form.county,
                (Scope::City, _) => &mut form.city_opinions,
            };
            place.push(text);
        }
        Ok(Record {
            name: format!("附件2_免考申请表_{}_{}.xlsx", ctx.req.id, c.name),
            bytes: exemption_form::xlsx(&form)?,
            lines: 1,
        })
    }

    /// At the window's close: each county's officers receive its 附件3, each city-direct
    /// school with approved candidates its own (to its contacts), the city admins the
    /// city's. Returns how many chats were sent one.
    pub(crate) async fn send_exemption_summaries(
        &self,
        tx: &mut Conn,
        season: &Season,
        key: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> anyhow::Result<usize> {
        let approved = self.approved_exemptions(tx, season, |_| true).await?;
        let caption = |table: &Table<Line>, lines: usize| {
            self.render.render(
                tpl::EXEMPT_SUMMARY_SENT,
                &serde_json::json!({"year": season.year, "unit": table.unit, "lines": lines}),
            )
        };
        self.send_tables(tx, &approved, true, key, now, caption)
            .await
    }
}
