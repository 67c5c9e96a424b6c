//! Operations on the database as a whole: a consistent copy of a running SQLite database, and
//! the audit chain's check.

use super::App;
use crate::store::audit_chain::{self, Verdict};
use crate::store::{Backend, audit};
use anyhow::{Context, bail};
use std::path::Path;

impl App {
    /// `backup --out FILE`: a consistent copy of the SQLite database while the bot runs
    /// (`VACUUM INTO` reads one snapshot; writers go on), readable by its owner only. The
    /// backup is recorded in the audit chain first, so the copy holds its own record.
    /// PostgreSQL has its own tools (docs/operator.md, "Records, the audit chain and backups").
    pub async fn backup(&self, out: &Path) -> anyhow::Result<u64> {
        if self.db.backend != Backend::Sqlite {
            bail!(
                "backup copies a SQLite database; for PostgreSQL use pg_dump -Fc (see \
                 docs/operator.md, \"Records, the audit chain and backups\")"
            );
        }
        if out.exists() {
            bail!("{} exists already: choose a new file", out.display());
        }
        let target = out
            .to_str()
            .with_context(|| format!("{} is not a UTF-8 path", out.display()))?
            .to_string();
        {
            let mut tx = self.db.begin().await?;
            let detail = format!("backup to {target}");
            audit(&mut tx, self.clock.now(), "cli", "backup", &detail).await?;
            tx.commit().await?;
        }
        let mut conn = self.db.pool.acquire().await?;
        crate::store::vacuum_into(&mut conn, &target)
            .await
            .with_context(|| format!("cannot write {target}"))?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(out, std::fs::Permissions::from_mode(0o600))?;
        Ok(std::fs::metadata(out)?.len())
    }

    /// `audit verify`: the whole chain, checked link by link.
    pub async fn verify_audit(&self) -> anyhow::Result<Verdict> {
        let mut conn = self.db.pool.acquire().await?;
        Ok(audit_chain::verify(&mut conn).await?)
    }
}
