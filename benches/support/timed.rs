//! The real binary under /usr/bin/time, as the import benches run it: its wall time, its peak
//! resident memory, and what it said.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Instant;

/// Runs `bin args` in `dir` against `db_url` (a city importing one scores file, logging errors
/// only): (seconds, peak resident MiB, the output with /usr/bin/time's line in its stderr).
pub fn timed(bin: &str, db_url: &str, dir: &Path, args: &[&str]) -> (f64, f64, Output) {
    let start = Instant::now();
    let out = Command::new("/usr/bin/time")
        .arg("-f")
        .arg("maxrss_kb=%M")
        .arg(bin)
        .args(args)
        .env("DATABASE_URL", db_url)
        .env("ENTRY_MODE", "city-file")
        .env("RUST_LOG", "error")
        .current_dir(dir)
        .output()
        .expect("command runs");
    let secs = start.elapsed().as_secs_f64();
    let kb: f64 = String::from_utf8_lossy(&out.stderr)
        .lines()
        .find_map(|l| l.strip_prefix("maxrss_kb="))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0);
    (secs, kb / 1024.0, out)
}
