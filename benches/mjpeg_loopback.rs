//! End-to-end MJPEG capture on loopback at 720p: the real client
//! (`MjpegSource`) reading the simulated camera (`sim::mjpeg_server`, which
//! produces at most 1000 frames/s), reading a bare socket that writes
//! pre-rendered parts as fast as it can (the client's own ceiling), and
//! through the pump. Also the process's CPU time (client and server together)
//! for following a 30 fps camera.
//!
//! `cargo bench --bench mjpeg_loopback` (10 s per phase). Without `--bench`
//! (as `cargo test --all-targets` runs it) it is a short smoke run.

#[path = "support/frames.rs"]
mod frames;

use std::time::{Duration, Instant};

use layerwatch::capture::{self, FrameSource, MjpegSource, PumpConfig};
use layerwatch::domain::FrameImage;
use layerwatch::sim::mjpeg_server::MjpegServer;
use tokio_util::sync::CancellationToken;

fn cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes the struct we pass.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(u.ru_utime) + t(u.ru_stime)
}

fn len(img: &FrameImage) -> usize {
    match img {
        FrameImage::Jpeg(b) => b.len(),
        FrameImage::Rgb(r) => r.data.len(),
    }
}

async fn server(fps: f64) -> (MjpegServer, usize) {
    let jpegs = frames::realistic_jpegs(30, 1280, 720);
    let mean = jpegs.iter().map(|j| j.len()).sum::<usize>() / jpegs.len();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("loopback");
    (MjpegServer::start(listener, jpegs, fps).expect("server"), mean)
}

/// A minimal mjpg-streamer look-alike that writes the same pre-rendered parts in a
/// loop as fast as the socket takes them.
async fn blaster(jpegs: Vec<bytes::Bytes>) -> String {
    use tokio::io::AsyncWriteExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("loopback");
    let addr = listener.local_addr().expect("addr");
    let mut parts = vec![];
    for j in &jpegs {
        parts.extend_from_slice(format!("Content-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n", j.len()).as_bytes());
        parts.extend_from_slice(j);
        parts.extend_from_slice(b"\r\n--boundarydonotcross\r\n");
    }
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let parts = parts.clone();
            tokio::spawn(async move {
                let mut req = [0u8; 1024];
                let _ = tokio::io::AsyncReadExt::read(&mut sock, &mut req).await;
                let head = "HTTP/1.1 200 OK\r\nConnection: close\r\n\
                            Content-Type: multipart/x-mixed-replace;boundary=boundarydonotcross\r\n\r\n\
                            --boundarydonotcross\r\n";
                if sock.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                while sock.write_all(&parts).await.is_ok() {}
            });
        }
    });
    format!("http://{addr}/stream")
}

fn source(url: &str) -> MjpegSource {
    MjpegSource::new("bench", url, Duration::from_secs(5), Duration::from_secs(1), 16 << 20).expect("source")
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let phase = Duration::from_secs_f64(if full { 10.0 } else { 0.5 });
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    rt.block_on(async {
        // 1. The bare client, as fast as the server produces (1000 fps requested).
        let (srv, mean) = server(1000.0).await;
        let mut src = source(&srv.url());
        for _ in 0..10 {
            src.next_frame().await.expect("warm-up frame");
        }
        let (t0, c0) = (Instant::now(), cpu_seconds());
        let (mut n, mut bytes) = (0u64, 0usize);
        while t0.elapsed() < phase {
            let f = src.next_frame().await.expect("frame");
            n += 1;
            bytes += len(&f.image);
        }
        let (secs, cpu) = (t0.elapsed().as_secs_f64(), cpu_seconds() - c0);
        println!(
            "mjpeg_loopback/client_from_sim_server: {:.0} frames/s, {:.0} MB/s of 720p JPEG ({} B mean), \
             bad {} ({:.2} CPU s/s, server included)",
            n as f64 / secs,
            bytes as f64 / secs / 1e6,
            mean,
            src.stats().bad_frames(),
            cpu / secs
        );
        drop(src);
        srv.shutdown().await;

        // 2. The bare client against a socket that never waits: the client's ceiling.
        let url = blaster(frames::realistic_jpegs(30, 1280, 720)).await;
        let mut src = source(&url);
        for _ in 0..10 {
            src.next_frame().await.expect("warm-up frame");
        }
        let (t0, c0) = (Instant::now(), cpu_seconds());
        let (mut n, mut bytes) = (0u64, 0usize);
        while t0.elapsed() < phase {
            let f = src.next_frame().await.expect("frame");
            n += 1;
            bytes += len(&f.image);
        }
        let (secs, cpu) = (t0.elapsed().as_secs_f64(), cpu_seconds() - c0);
        println!(
            "mjpeg_loopback/client_ceiling: {:.0} frames/s, {:.0} MB/s \
             ({:.2} CPU s/s, {:.0} µs CPU/frame, writer included)",
            n as f64 / secs,
            bytes as f64 / secs / 1e6,
            cpu / secs,
            cpu / n as f64 * 1e6
        );
        drop(src);

        // 3. Through the pump (every frame to the queue, a consumer that only counts).
        let (srv, _) = server(1000.0).await;
        let cancel = CancellationToken::new();
        let h = capture::spawn(Box::new(source(&srv.url())), PumpConfig::every_frame(4), cancel.clone());
        for _ in 0..10 {
            h.next().await.expect("warm-up frame");
        }
        let (t0, f0) = (Instant::now(), h.stats().frames());
        let mut consumed = 0u64;
        while t0.elapsed() < phase {
            h.next().await.expect("frame");
            consumed += 1;
        }
        let secs = t0.elapsed().as_secs_f64();
        let s = h.stats();
        println!(
            "mjpeg_loopback/pump: {:.0} frames/s from the source, {:.0} frames/s consumed, {} dropped",
            (s.frames() - f0) as f64 / secs,
            consumed as f64 / secs,
            s.dropped()
        );
        cancel.cancel();
        srv.shutdown().await;

        // 4. A 30 fps camera: CPU cost of following it live.
        let (srv, _) = server(30.0).await;
        let cancel = CancellationToken::new();
        let mut cfg = capture::CameraConfig { url: srv.url(), ..Default::default() };
        cfg.interval_ms = 2000;
        let h = capture::start(&cfg, cancel.clone()).expect("capture");
        h.next().await.expect("first frame");
        let (t0, c0, f0) = (Instant::now(), cpu_seconds(), h.stats().frames());
        tokio::time::sleep(phase).await;
        let secs = t0.elapsed().as_secs_f64();
        println!(
            "mjpeg_loopback/30fps: {:.1} frames/s followed, {:.1}% of one core (client and server)",
            (h.stats().frames() - f0) as f64 / secs,
            100.0 * (cpu_seconds() - c0) / secs
        );
        cancel.cancel();
        srv.shutdown().await;
    });
}
