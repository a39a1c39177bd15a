//! What the print-host links cost per status message, end to end: a message
//! arrives on the websocket, is parsed, merged, mapped to `PrinterState` and
//! published on the `watch` channel. The peers are in-process fakes that
//! replay captured messages as fast as the link takes them (the real peers
//! are in the tests; here only the link's own cost is of interest).
//!
//! `cargo bench --bench printer_hosts` reports time per message. Moonraker
//! pushes 4 updates/s and OctoPrint 2/s, so the figures say what following a
//! printer costs the Pi's CPU.

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures_util::{SinkExt, StreamExt};
use layerwatch::config::Config;
use layerwatch::printer::PrinterLink;
use layerwatch::printer::moonraker::MoonrakerLink;
use layerwatch::printer::octoprint::OctoPrintLink;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

/// A captured `current` message from OctoPrint 1.11.8 while printing.
const OCTO_CURRENT: &str = include_str!("../src/printer/octoprint/testdata/push.jsonl");

fn octo_current_template() -> Value {
    OCTO_CURRENT
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|m| m["current"]["state"]["text"] == "Printing")
        .expect("a Printing message in the capture")
}

/// Fake Moonraker: answers identify/info/subscribe, then pushes what it is given.
async fn fake_moonraker(listener: TcpListener, mut push: mpsc::UnboundedReceiver<String>) {
    let Ok((tcp, _)) = listener.accept().await else { return };
    let Ok(ws) = tokio_tungstenite::accept_async(tcp).await else { return };
    let (mut tx, mut rx) = ws.split();
    let initial = json!({
        "webhooks": {"state": "ready", "state_message": "Printer is ready"},
        "print_stats": {"state": "printing", "filename": "bench.gcode", "print_duration": 1.0,
                        "info": {"total_layer": 100, "current_layer": 1}},
        "virtual_sdcard": {"progress": 0.0, "file_position": 0, "file_size": 10_000_000, "is_active": true},
        "pause_resume": {"is_paused": false},
        "toolhead": {"position": [100.0, 100.0, 0.3, 0.0]},
        "extruder": {"temperature": 210.0, "target": 210.0},
        "heater_bed": {"temperature": 60.0, "target": 60.0},
    });
    loop {
        tokio::select! {
            m = rx.next() => {
                let Some(Ok(Message::Text(t))) = m else { return };
                let req: Value = serde_json::from_str(t.as_str()).unwrap_or(Value::Null);
                let result = match req["method"].as_str().unwrap_or("") {
                    "server.connection.identify" => json!({"connection_id": 1}),
                    "server.info" => json!({"klippy_state": "ready", "klippy_connected": true}),
                    "printer.objects.subscribe" => json!({"eventtime": 1.0, "status": initial}),
                    _ => json!("ok"),
                };
                let answer = json!({"jsonrpc": "2.0", "result": result, "id": req["id"]});
                if tx.send(Message::text(answer.to_string())).await.is_err() { return; }
            }
            p = push.recv() => {
                let Some(p) = p else { return };
                if tx.send(Message::text(p)).await.is_err() { return; }
            }
        }
    }
}

fn moonraker_update(i: u64) -> String {
    json!({"jsonrpc": "2.0", "method": "notify_status_update", "params": [{
        "print_stats": {"print_duration": 1.0 + i as f64 * 0.25, "total_duration": 1.0 + i as f64 * 0.25,
                        "filament_used": i as f64 * 0.5},
        "virtual_sdcard": {"file_position": 1000 + i, "progress": (1000 + i) as f64 / 1e7},
        "display_status": {"progress": (1000 + i) as f64 / 1e7},
        "toolhead": {"position": [100.0 + (i % 50) as f64, 100.0, 0.3, i as f64 * 0.1],
                     "print_time": i as f64 * 0.25, "estimated_print_time": i as f64 * 0.25},
        "extruder": {"temperature": 210.0 + (i % 3) as f64 * 0.1},
    }, i as f64 * 0.25]})
    .to_string()
}

/// Fake OctoPrint: REST for /api/version, /api/job, /api/printer, /api/login,
/// and the push socket, on one port (like the real one).
async fn fake_octoprint(listener: TcpListener, push: mpsc::UnboundedReceiver<String>) {
    let push = Arc::new(tokio::sync::Mutex::new(push));
    loop {
        let Ok((tcp, _)) = listener.accept().await else { return };
        let push = push.clone();
        tokio::spawn(async move {
            let mut peek = [0u8; 64];
            let n = tcp.peek(&mut peek).await.unwrap_or(0);
            if peek[..n].starts_with(b"GET /sockjs/websocket") {
                let Ok(ws) = tokio_tungstenite::accept_async(tcp).await else { return };
                let (mut tx, _rx) = ws.split();
                let mut push = push.lock().await;
                while let Some(p) = push.recv().await {
                    if tx.send(Message::text(p)).await.is_err() {
                        return;
                    }
                }
            } else {
                let _ = serve_rest(tcp).await;
            }
        });
    }
}

async fn serve_rest(mut tcp: TcpStream) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = tcp.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let len = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap_or(0))
                })
                .unwrap_or(0usize);
            if buf.len() < end + 4 + len {
                break;
            }
            buf.drain(..end + 4 + len);
            let path = head.split_whitespace().nth(1).unwrap_or("");
            let body = match path.split('?').next().unwrap_or("") {
                "/api/version" => json!({"api": "0.1", "server": "1.11.8", "text": "OctoPrint 1.11.8"}),
                "/api/login" => json!({"name": "bench", "session": "s"}),
                "/api/job" => json!({"job": {"file": {"name": "bench.gcode", "path": "bench.gcode", "origin": "local",
                                     "size": 10_000_000, "date": 1}}, "progress": {"completion": 0.0, "filepos": 0},
                                     "state": "Printing"}),
                "/api/printer" => {
                    json!({"state": {"text": "Printing", "flags": {"operational": true, "printing": true}},
                                         "temperature": {"tool0": {"actual": 210.0, "target": 210.0}}})
                }
                _ => json!({}),
            }
            .to_string();
            let resp = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            );
            tcp.write_all(resp.as_bytes()).await?;
        }
    }
}

/// Pushes `n` messages made by `make(i)` and waits until the link published the last.
async fn run_batch(
    push: &mpsc::UnboundedSender<String>,
    rx: &mut tokio::sync::watch::Receiver<layerwatch::domain::PrinterStatus>,
    start: &mut u64,
    n: u64,
    make: &dyn Fn(u64) -> String,
    last_pos: &dyn Fn(u64) -> u64,
) -> Duration {
    let t0 = Instant::now();
    for i in *start..*start + n {
        let _ = push.send(make(i));
    }
    let want = last_pos(*start + n - 1);
    *start += n;
    let _ = tokio::time::timeout(
        Duration::from_secs(60),
        rx.wait_for(|s| s.state.job().and_then(|j| j.file_position) >= Some(want)),
    )
    .await;
    t0.elapsed()
}

fn links(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let mut g = c.benchmark_group("host link, per status message");
    g.throughput(Throughput::Elements(1));

    let (push, mut rx, cancel) = rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let (push, push_rx) = mpsc::unbounded_channel();
        tokio::spawn(fake_moonraker(listener, push_rx));
        let toml = format!("[printer]\nkind = \"moonraker\"\n[printer.moonraker]\nurl = \"{url}\"\nmax_file_mb = 0\n");
        let cfg = Config::from_toml_str(&toml).expect("config");
        let cancel = CancellationToken::new();
        let link = MoonrakerLink::connect(&cfg.printer, cancel.clone()).await.expect("connect");
        (push, link.status(), cancel)
    });
    let mut next = 0u64;
    g.bench_function("moonraker notify_status_update", |b| {
        b.iter_custom(|iters| {
            rt.block_on(run_batch(&push, &mut rx, &mut next, iters, &moonraker_update, &|i| 1000 + i))
        })
    });
    cancel.cancel();

    let template = octo_current_template();
    let octo = move |i: u64| {
        let mut m = template.clone();
        m["current"]["progress"]["filepos"] = json!(1000 + i);
        m["current"]["job"]["file"]["path"] = json!("bench.gcode");
        m.to_string()
    };
    let (push, mut rx, cancel) = rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let (push, push_rx) = mpsc::unbounded_channel();
        tokio::spawn(fake_octoprint(listener, push_rx));
        let toml = format!(
            "[printer]\nkind = \"octoprint\"\n[printer.octoprint]\nurl = \"{url}\"\napi_key = \"k\"\nmax_file_mb = 0\n"
        );
        let cfg = Config::from_toml_str(&toml).expect("config");
        let cancel = CancellationToken::new();
        let link = OctoPrintLink::connect(&cfg.printer, cancel.clone()).await.expect("connect");
        (push, link.status(), cancel)
    });
    let mut next = 0u64;
    g.bench_function("octoprint push current", |b| {
        b.iter_custom(|iters| rt.block_on(run_batch(&push, &mut rx, &mut next, iters, &octo, &|i| 1000 + i)))
    });
    cancel.cancel();
    g.finish();
}

criterion_group!(benches, links);
criterion_main!(benches);
