//! What the process measures for /metrics: counters, and the latency histogram of update
//! handling: from the bot receiving an update from
//! Telegram to its handler having finished — its transaction (and so its reply, queued in the
//! outbox) committed and a button press answered. Fixed memory: 0.1 ms
//! buckets up to 2 s, and one bucket above.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// What the process counts for /metrics (each since it started).
#[derive(Default)]
pub struct Counters {
    /// Messages and edits Telegram accepted.
    pub sends: AtomicU64,
    /// Sends Telegram answered 429 Too Many Requests.
    pub too_many: AtomicU64,
    /// Sends that failed otherwise (server errors, time-outs, refusals).
    pub send_errors: AtomicU64,
    /// Reminder messages the sweep queued.
    pub reminders: AtomicU64,
    /// Webhook requests refused for a wrong or missing secret.
    pub webhook_refused: AtomicU64,
    /// Updates skipped because they could not be read (the others of their answer were handled).
    pub updates_skipped: AtomicU64,
    /// Updates taken from Telegram whose handler has not finished (a gauge): nought, with no
    /// update waiting at Telegram, means every update so far has been answered.
    pub updates_in_hand: AtomicU64,
}

impl Counters {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// Prometheus' text format, written a metric at a time.
#[derive(Default)]
pub struct Exposition(pub String);

impl Exposition {
    pub fn metric(&mut self, name: &str, kind: &str, help: &str) {
        writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}").ok();
    }

    /// One sample; `labels` as `key="value"` pairs (values are this program's own words).
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
        match labels.is_empty() {
            true => writeln!(self.0, "{name} {value}"),
            false => writeln!(self.0, "{name}{{{}}} {value}", labels.join(",")),
        }
        .ok();
    }

    pub fn counter(&mut self, name: &str, help: &str, counter: &AtomicU64) {
        self.metric(name, "counter", help);
        self.sample(name, &[], counter.load(Ordering::Relaxed) as f64);
    }

    /// A histogram in seconds at Prometheus' usual bucket edges.
    pub fn histogram(&mut self, name: &str, help: &str, h: &Histogram) {
        self.metric(name, "histogram", help);
        let snap = h.snapshot();
        for le in [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0] {
            let n = snap.at_most(Duration::from_secs_f64(le));
            self.sample(
                &format!("{name}_bucket"),
                &[("le", &le.to_string())],
                n as f64,
            );
        }
        let count = snap.count() as f64;
        self.sample(&format!("{name}_bucket"), &[("le", "+Inf")], count);
        let sum = h.sum_us.load(Ordering::Relaxed) as f64 / 1e6;
        self.sample(&format!("{name}_sum"), &[], sum);
        self.sample(&format!("{name}_count"), &[], count);
    }
}

const BUCKET_US: u64 = 100;
const BUCKETS: usize = 20_000;

pub struct Histogram {
    buckets: Vec<AtomicU64>,
    over: AtomicU64,
    sum_us: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            over: AtomicU64::new(0),
            sum_us: AtomicU64::new(0),
        }
    }
}

impl Histogram {
    pub fn record(&self, d: Duration) {
        self.sum_us
            .fetch_add(d.as_micros() as u64, Ordering::Relaxed);
        let i = (d.as_micros() as u64 / BUCKET_US) as usize;
        match self.buckets.get(i) {
            Some(b) => b.fetch_add(1, Ordering::Relaxed),
            None => self.over.fetch_add(1, Ordering::Relaxed),
        };
    }

    pub fn count(&self) -> u64 {
        self.snapshot().count()
    }

    /// The upper edge of the bucket holding the `q` quantile (0.0–1.0); None when empty or when
    /// it lies above the last bucket.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        self.snapshot().quantile(q)
    }

    /// The counts as they are now, to compare with a later snapshot (one benchmark phase).
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            buckets: self
                .buckets
                .iter()
                .map(|b| b.load(Ordering::Relaxed))
                .collect(),
            over: self.over.load(Ordering::Relaxed),
        }
    }
}

/// Frozen counts of a histogram.
pub struct Snapshot {
    buckets: Vec<u64>,
    over: u64,
}

impl Snapshot {
    /// What was recorded between `earlier` and this snapshot.
    pub fn since(&self, earlier: &Snapshot) -> Snapshot {
        Snapshot {
            buckets: self
                .buckets
                .iter()
                .zip(&earlier.buckets)
                .map(|(now, then)| now - then)
                .collect(),
            over: self.over - earlier.over,
        }
    }

    pub fn count(&self) -> u64 {
        self.buckets.iter().sum::<u64>() + self.over
    }

    /// How many took at most `d` (to the bucket: 0.1 ms).
    pub fn at_most(&self, d: Duration) -> u64 {
        let full = (d.as_micros() as u64 / BUCKET_US) as usize;
        self.buckets.iter().take(full).sum()
    }

    /// As `Histogram::quantile`.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let target = ((total as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= target {
                return Some(Duration::from_micros((i as u64 + 1) * BUCKET_US));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles() {
        let h = Histogram::default();
        for ms in 1..=100 {
            h.record(Duration::from_millis(ms));
        }
        assert_eq!(h.count(), 100);
        assert_eq!(h.quantile(0.99), Some(Duration::from_micros(99_100)));
        assert_eq!(h.quantile(0.5), Some(Duration::from_micros(50_100)));
        let before = h.snapshot();
        h.record(Duration::from_secs(5));
        assert_eq!(h.quantile(1.0), None);
        let phase = h.snapshot().since(&before);
        assert_eq!(phase.count(), 1);
        assert_eq!(phase.quantile(0.5), None);
    }

    #[test]
    fn the_histogram_reads_as_prometheus_counts_it() {
        let h = Histogram::default();
        for ms in [3, 3, 40, 700, 5000] {
            h.record(Duration::from_millis(ms));
        }
        let mut out = Exposition::default();
        out.histogram("latency_seconds", "Handling time.", &h);
        let text = out.0;
        assert!(text.contains("# TYPE latency_seconds histogram"));
        assert!(
            text.contains("latency_seconds_bucket{le=\"0.005\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("latency_seconds_bucket{le=\"0.05\"} 3\n"),
            "{text}"
        );
        assert!(
            text.contains("latency_seconds_bucket{le=\"1\"} 4\n"),
            "{text}"
        );
        assert!(
            text.contains("latency_seconds_bucket{le=\"+Inf\"} 5\n"),
            "{text}"
        );
        assert!(text.contains("latency_seconds_sum 5.746\n"), "{text}");
        assert!(text.contains("latency_seconds_count 5\n"), "{text}");
    }
}
