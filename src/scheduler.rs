//! The ticker: tokio-cron-scheduler calls the sweep on the configured cron (season time zone,
//! with a seconds field). It keeps nothing itself — what is due is found in the database — so a
//! restart loses nothing, and a sweep runs once at start for what came due while the bot was
//! down.

use crate::app::App;
use tokio_cron_scheduler::{Job, JobScheduler};

pub struct Ticker {
    scheduler: JobScheduler,
}

impl Ticker {
    pub async fn start(app: App) -> anyhow::Result<Ticker> {
        sweep_now(&app).await;
        let scheduler = JobScheduler::new().await?;
        let tz = chrono_tz::Asia::Shanghai;
        let job_app = app.clone();
        let job = Job::new_async_tz(app.config.reminders.tick.as_str(), tz, move |_id, _lock| {
            let app = job_app.clone();
            Box::pin(async move { sweep_now(&app).await })
        })?;
        scheduler.add(job).await?;
        scheduler.start().await?;
        Ok(Ticker { scheduler })
    }

    pub async fn stop(mut self) {
        if let Err(e) = self.scheduler.shutdown().await {
            tracing::warn!("scheduler did not stop cleanly: {e}");
        }
    }
}

async fn sweep_now(app: &App) {
    let now = app.clock.now();
    match app.sweep(now).await {
        Ok(report) if !report.sent.is_empty() => {
            for (key, n) in report.sent {
                crate::metrics::Counters::add(&app.counters.reminders, n as u64);
                tracing::info!(reminder = key, recipients = n, "reminder sent");
            }
        }
        Ok(_) => {}
        Err(e) => tracing::error!("sweep failed: {e:#}"),
    }
}
