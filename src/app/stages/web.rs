//! The web stage: binds `[web] bind` and serves the API until the token fires.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::app::status::StatusBoard;
use crate::app::supervisor::StageExit;
use crate::web::{self, WebState};

pub async fn run(
    bind: String,
    state: WebState,
    board: Arc<StatusBoard>,
    cancel: CancellationToken,
) -> anyhow::Result<StageExit> {
    let listener = web::bind(&bind).await?;
    if let Ok(addr) = listener.local_addr() {
        board.set_web_addr(addr);
    }
    web::serve(state, listener, cancel).await?;
    Ok(StageExit::Stopped)
}
