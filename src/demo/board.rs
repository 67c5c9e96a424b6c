//! The season board at the end of the review window: each office's page as it stands, written
//! to `demo-output/board/` to open in any browser.

use super::Person;
use super::chats::{Chats, TOKEN};
use crate::app::App;
use crate::board::SessionKey;
use crate::telegram::init_data::TelegramSignIn;
use std::path::Path;
use std::sync::Arc;

/// Each office's board written as pages; with `live` (`demo --board ADDR`, on Telegram), also
/// served live.
pub(super) async fn snapshots(
    app: &App,
    chats: &Chats,
    out: &Path,
    people: &[Person],
    live: Option<std::net::SocketAddr>,
) -> anyhow::Result<()> {
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
        let number = chats.number(app, &p.user).await?;
        let tabs = crate::board::snapshot(app, number, file_of).await?;
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
        "   共 {written} 份。实时看板由 `run --listen` 在 /board 提供，从 Telegram 的按钮打开（telegram.board_url，见 DEPLOY.md）；\n   `demo --board 127.0.0.1:8080` 在此刻另开实时看板，给出每人从（模拟的）Telegram 打开它的地址。"
    );
    if let Chats::DingTalk(_) = chats {
        println!("   钉钉的卡片上没有看板按钮：看板通过 Telegram 登录。");
    }
    match live {
        Some(addr) => serve_live(app, addr, people).await,
        None => Ok(()),
    }
}

/// `demo --board ADDR`: the live board of this moment, on `addr`, with the address each office
/// opens it by: the fake Telegram signs each person's launch data as Telegram's client does,
/// for the demo bot. Served until Enter is pressed (at once when standard input is closed).
async fn serve_live(
    app: &App,
    addr: std::net::SocketAddr,
    people: &[Person],
) -> anyhow::Result<()> {
    let routes = crate::board::routes(
        app.clone(),
        Arc::new(TelegramSignIn::new(TOKEN)),
        SessionKey::derive(TOKEN),
    );
    let socket = tokio::net::TcpListener::bind(addr).await?;
    let base = format!("http://{}/board", socket.local_addr()?);
    let server = tokio::spawn(async move { axum::serve(socket, routes).await });
    println!("\n== 实时看板：{base}（每个地址里带着 Telegram 为此人签名的身份，一小时内有效）");
    let opened = app.clock.now().timestamp();
    for p in people {
        let Some(user) = p.user.telegram() else {
            continue;
        };
        if crate::board::snapshot(app, user.id, |_| String::new())
            .await?
            .is_empty()
        {
            continue;
        }
        println!(
            "   {} → {}",
            p.label,
            user.web_app_url(&base, TOKEN, opened)
        );
    }
    println!("   按回车键继续演示（记录与封存之后看板上就没有个人数据了）。");
    tokio::task::spawn_blocking(|| std::io::stdin().read_line(&mut String::new())).await??;
    server.abort();
    Ok(())
}
