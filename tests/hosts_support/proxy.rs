//! A TCP proxy on 127.0.0.1 in front of a real peer, for connection faults:
//! `cut()` drops every open connection at once (a Wi-Fi blip, a restarted
//! reverse proxy) and `block_websockets(true)` refuses websocket upgrades
//! while plain HTTP still passes, so a link must fall back to polling.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub struct CutProxy {
    pub url: String,
    generation: watch::Sender<u64>,
    block_ws: Arc<AtomicBool>,
    pub refused_upgrades: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl CutProxy {
    pub async fn start(target: SocketAddr) -> CutProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let url = format!("http://{}", listener.local_addr().expect("proxy addr"));
        let (generation, gen_rx) = watch::channel(0u64);
        let block_ws = Arc::new(AtomicBool::new(false));
        let refused = Arc::new(AtomicU64::new(0));
        let (block, refused_c) = (block_ws.clone(), refused.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else { return };
                let (gen_rx, block, refused) = (gen_rx.clone(), block.clone(), refused_c.clone());
                tokio::spawn(async move {
                    let _ = pipe(client, target, gen_rx, block, refused).await;
                });
            }
        });
        CutProxy { url, generation, block_ws, refused_upgrades: refused, task }
    }

    /// Drops every connection open now.
    pub fn cut(&self) {
        self.generation.send_modify(|g| *g += 1);
    }

    pub fn block_websockets(&self, on: bool) {
        self.block_ws.store(on, Ordering::SeqCst);
    }
}

impl Drop for CutProxy {
    fn drop(&mut self) {
        self.task.abort();
        self.cut();
    }
}

async fn pipe(
    mut client: TcpStream,
    target: SocketAddr,
    mut gen_rx: watch::Receiver<u64>,
    block: Arc<AtomicBool>,
    refused: Arc<AtomicU64>,
) -> std::io::Result<()> {
    gen_rx.mark_unchanged();
    let mut first = vec![0u8; 8192];
    let n = client.read(&mut first).await?;
    let head = String::from_utf8_lossy(&first[..n]).to_ascii_lowercase();
    if block.load(Ordering::SeqCst) && head.contains("upgrade: websocket") {
        refused.fetch_add(1, Ordering::SeqCst);
        client.write_all(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").await?;
        return Ok(());
    }
    let mut server = TcpStream::connect(target).await?;
    server.write_all(&first[..n]).await?;
    tokio::select! {
        _ = gen_rx.changed() => Ok(()),
        r = tokio::io::copy_bidirectional(&mut client, &mut server) => r.map(drop),
    }
}
