//! The season board at the end of the review window: each office's page as it stands, written
//! to `demo-output/board/` to open in any browser.

use super::Person;
use crate::app::App;
use std::path::Path;

pub(super) async fn snapshots(app: &App, out: &Path, people: &[Person]) -> anyhow::Result<()> {
    let dir = out.join("board");
    std::fs::create_dir_all(&dir)?;
    println!("\n== 看板快照：每个人在本季看板上看到的（此刻的数据）");
    let mut written = 0;
    for p in people {
        let Some(page) = crate::board::snapshot(app, p.user.id).await? else {
            continue;
        };
        let name: String = p
            .label
            .chars()
            .map(|c| {
                if c.is_whitespace() || c == '/' {
                    '_'
                } else {
                    c
                }
            })
            .collect();
        let path = dir.join(format!("{}-{name}.html", p.user.id));
        std::fs::write(&path, page)?;
        written += 1;
        println!("   {} → {}", p.label, path.display());
    }
    println!(
        "   共 {written} 份。实时看板由 `run --listen` 在 /board 提供，从 Telegram 的按钮打开（telegram.board_url，见 DEPLOY.md）。"
    );
    Ok(())
}
