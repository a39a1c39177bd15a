//! Why a store operation failed: each variant names the file, table or step.

use std::path::PathBuf;

/// A failed store operation.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create directory {}: {source}", path.display())]
    CreateDir { path: PathBuf, source: std::io::Error },
    #[error("cannot open database {}: {source}", path.display())]
    Open { path: PathBuf, source: rusqlite::Error },
    #[error(
        "database {} has schema version {found}, newer than this build understands ({known}); \
         use a newer layerwatch or another store.path",
        path.display()
    )]
    TooNew { path: PathBuf, found: i64, known: i64 },
    #[error("migration of {} to schema version {version} failed (rolled back): {source}", path.display())]
    Migration { path: PathBuf, version: i64, source: rusqlite::Error },
    /// A query failed; `op` says which (`insert incident`, `due alerts`…).
    #[error("{op}: {source}")]
    Sql { op: &'static str, source: rusqlite::Error },
    #[error("snapshot file {}: {source}", path.display())]
    SnapshotIo { path: PathBuf, source: std::io::Error },
    #[error("invalid snapshot id {0:?}")]
    BadSnapshotId(String),
    #[error("no {what} with id {id}")]
    NotFound { what: &'static str, id: i64 },
    #[error("store worker failed: {0}")]
    Worker(String),
}

/// Adds the name of the operation to a rusqlite error.
pub(crate) trait SqlContext<T> {
    fn op(self, op: &'static str) -> Result<T, StoreError>;
}

impl<T> SqlContext<T> for Result<T, rusqlite::Error> {
    fn op(self, op: &'static str) -> Result<T, StoreError> {
        self.map_err(|source| StoreError::Sql { op, source })
    }
}
