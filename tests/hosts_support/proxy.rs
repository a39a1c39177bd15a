//! A TCP proxy on 127.0.0.1 in front of a real peer, for connection faults:
//! `cut()` drops every open connection at once (a Wi-Fi blip, a restarted
//! reverse proxy) and `block_websockets(true)` refuses websocket upgrades
//! while plain HTTP still passes, so a link must fall back to polling. It also
//! counts request lines by prefix (`POST /api/job `), so a test can prove that
//! an idempotent command sent nothing.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub struct CutProxy {
    pub url: String,
    generation: watch::Sender<u64>,
    block_ws: Arc<AtomicBool>,
    pub refused_upgrades: Arc<AtomicU64>,
    requests: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl CutProxy {
    pub async fn start(target: SocketAddr) -> CutProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let url = format!("http://{}", listener.local_addr().expect("proxy addr"));
        let (generation, gen_rx) = watch::channel(0u64);
        let block_ws = Arc::new(AtomicBool::new(false));
        let refused = Arc::new(AtomicU64::new(0));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (block, refused_c, requests_c) = (block_ws.clone(), refused.clone(), requests.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else { return };
                let (gen_rx, block, refused) = (gen_rx.clone(), block.clone(), refused_c.clone());
                let requests = requests_c.clone();
                tokio::spawn(async move {
                    let _ = pipe(client, target, gen_rx, block, refused, requests).await;
                });
            }
        });
        CutProxy { url, generation, block_ws, refused_upgrades: refused, requests, task }
    }

    /// How many HTTP requests whose request line starts with `prefix` went through.
    pub fn requests(&self, prefix: &str) -> usize {
        self.requests.lock().unwrap_or_else(|e| e.into_inner()).iter().filter(|r| r.starts_with(prefix)).count()
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
    requests: Arc<Mutex<Vec<String>>>,
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
    let upgraded = head.contains("upgrade: websocket");
    let mut server = TcpStream::connect(target).await?;
    let (mut cr, mut cw) = client.split();
    let (mut sr, mut sw) = server.split();
    let record = |chunk: &[u8]| {
        // Request lines open a write from the client (keep-alive reuses the connection).
        let text = String::from_utf8_lossy(chunk);
        let line = text.lines().next().unwrap_or("");
        if !upgraded && line.ends_with(" HTTP/1.1") {
            requests.lock().unwrap_or_else(|e| e.into_inner()).push(line.to_string());
        }
    };
    record(&first[..n]);
    sw.write_all(&first[..n]).await?;
    let upstream = async {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = cr.read(&mut buf).await?;
            if n == 0 {
                return sw.shutdown().await;
            }
            record(&buf[..n]);
            sw.write_all(&buf[..n]).await?;
        }
    };
    tokio::select! {
        _ = gen_rx.changed() => Ok(()),
        r = upstream => r,
        r = tokio::io::copy(&mut sr, &mut cw) => r.map(drop),
    }
}
