//! Publication from the batches (`entry.mode = "county-batches"`): once every batch is
//! reported or 缺考, the season's candidates are assembled from the roster, each reported
//! batch's agreed entry, and the 缺考 batches' candidates with no score.

use super::{App, Area};
use crate::store::Conn;
use crate::store::entry::{self as batches, Batch};
use crate::store::seasons::Season;

/// Whether the batches allow publication.
#[derive(Debug)]
pub enum Readiness {
    /// Every batch is reported or 缺考.
    Ready,
    /// The season has no batches (no roster with sittings yet).
    NoBatches,
    /// This many roster candidates belong to no batch: publishing would leave them out.
    Unseated(i64),
    /// These batches are neither reported nor 缺考: (batch, county name).
    Waiting(Vec<(Batch, String)>),
}

impl App {
    pub(crate) async fn batch_readiness(
        &self,
        conn: &mut Conn,
        season: &Season,
    ) -> anyhow::Result<Readiness> {
        let all = batches::all(conn, season.id).await?;
        if all.is_empty() {
            return Ok(Readiness::NoBatches);
        }
        let area = Area::load(conn, &season.city_code).await?;
        let unseated = self.unseated(conn, season.id, &area).await?;
        if unseated > 0 {
            return Ok(Readiness::Unseated(unseated));
        }
        let waiting: Vec<(Batch, String)> = all
            .into_iter()
            .filter(|b| b.reported_at.is_none() && !b.is_absent())
            .map(|b| {
                let name = area.name(&b.county_code);
                (b, name)
            })
            .collect();
        Ok(if waiting.is_empty() {
            Readiness::Ready
        } else {
            Readiness::Waiting(waiting)
        })
    }

    /// Replaces the season's candidates with the batches' (in the publication's transaction).
    /// Returns how many were written.
    pub(crate) async fn assemble_from_batches(
        &self,
        conn: &mut Conn,
        season: &Season,
    ) -> anyhow::Result<u64> {
        let scored = batches::candidates_from_reported(conn, season.id).await?;
        let area = Area::load(conn, &season.city_code).await?;
        let exempt_score = i64::from(
            self.config
                .exemption_of(&season.city_code)
                .score(season.full_score)
                .tenths(),
        );
        let mut absent = 0;
        for b in batches::all(conn, season.id).await? {
            let schools = area.schools(&b.county_code);
            if b.is_absent() && !schools.is_empty() {
                absent += batches::candidates_of_absent(conn, &b, &schools, exempt_score).await?;
            }
        }
        Ok(scored + absent)
    }
}
