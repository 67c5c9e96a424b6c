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
        let file_of = |tab: &str| format!("{}-{name}-{tab}.html", p.user.id);
        let tabs = crate::board::snapshot(app, p.user.id, file_of).await?;
        for (tab, page) in &tabs {
            std::fs::write(dir.join(file_of(tab)), page)?;
        }
        if let Some((first, _)) = tabs.first() {
            written += 1;
            let path = dir.join(file_of(first));
            println!(
                "   {} → {}（共 {} 页）",
                p.label,
                path.display(),
                tabs.len()
            );
        }
    }
    println!(
        "   共 {written} 份。实时看板由 `run --listen` 在 /board 提供，从 Telegram 的按钮打开（telegram.board_url，见 DEPLOY.md）。"
    );
    Ok(())
}
