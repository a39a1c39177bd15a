//! How fast the serial link is: the pure protocol path (classify a printer
//! line, frame a host line, the send-window bookkeeping per line) and host-mode
//! streaming end to end through a pseudo-terminal to the Marlin simulator.
//!
//! `cargo bench --bench printer_marlin` reports lines/s for each. A Raspberry
//! Pi streaming at 250 000 baud needs at most ~2 000 short lines/s, so the
//! figures say how much headroom the link leaves for the rest of the daemon.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use layerwatch::domain::PrinterState;
use layerwatch::printer::marlin::protocol::{clean_line, numbered, parse};
use layerwatch::printer::marlin::window::{OkOutcome, Window};
use layerwatch::printer::marlin::{HandshakeTiming, MarlinLink, SerialTransport, Settings};
use layerwatch::printer::{PrinterConfig, PrinterLink, SerialMode};
use layerwatch::sim::marlin::{MarlinSim, SimConfig};
use tokio_util::sync::CancellationToken;

/// What a printer says during a print, in realistic proportions.
const RESPONSES: &[&[u8]] = &[
    b"ok",
    b"ok",
    b"ok",
    b"ok",
    b"ok",
    b"ok",
    b"ok T:210.12 /210.00 B:60.03 /60.00 @:64 B@:0",
    b"T:210.12 /210.00 B:60.03 /60.00 @:64 B@:0",
    b"echo:busy: processing",
    b"Resend: 1234",
    b"Error:checksum mismatch, Last Line: 1233",
    b"X:10.00 Y:20.00 Z:0.30 E:1.20 Count X:800 Y:1600 Z:240",
    b"SD printing byte 1234/5678",
    b"//action:notification Printing...",
];

fn protocol(c: &mut Criterion) {
    let mut g = c.benchmark_group("protocol");
    g.throughput(Throughput::Elements(RESPONSES.len() as u64));
    g.bench_function("parse response mix", |b| {
        b.iter(|| {
            for r in RESPONSES {
                black_box(parse(black_box(r)));
            }
        })
    });
    let file_line: &[u8] = b"G1 X123.456 Y78.901 E1234.56789 F1800 ; perimeter\n";
    g.throughput(Throughput::Elements(1));
    g.bench_function("clean + number + checksum one file line", |b| {
        b.iter(|| {
            let cmd = clean_line(black_box(file_line));
            black_box(numbered(123_456, cmd.as_deref().unwrap_or("")))
        })
    });
    g.bench_function("window push, transmit, ok per line", |b| {
        let mut w: Window<u64> = Window::new(256, 1, true);
        w.restart(0);
        let mut i = 0u64;
        b.iter(|| {
            w.push("G1 X1 Y2 E3".to_string(), i);
            let sent = w.transmit();
            let acked = w.on_ok();
            debug_assert!(matches!(acked, OkOutcome::Accepted(_)));
            i += 1;
            black_box(sent)
        })
    });
    g.finish();
}

/// Streams a generated file of `lines` moves to the simulator (moves take no time)
/// and returns the time from `print` to `Finished`.
async fn stream_once(lines: usize) -> Duration {
    let dir = tempfile::tempdir().expect("tempdir");
    let cancel = CancellationToken::new();
    let sim_cfg = SimConfig {
        time_scale: 1e-6,
        link: Some(dir.path().join("tty")),
        ..SimConfig::default()
    };
    let (_sim, path) = MarlinSim::spawn(sim_cfg, cancel.child_token())
        .await
        .expect("simulator");
    let mut settings = Settings::from_config(&PrinterConfig::default());
    settings.mode = SerialMode::Host;
    let transport = Arc::new(SerialTransport { path, baud: 250_000 });
    let link = MarlinLink::spawn(settings, transport, HandshakeTiming::default(), cancel.child_token());
    let mut rx = link.status();
    rx.wait_for(|s| matches!(s.state, PrinterState::Idle))
        .await
        .expect("idle");
    let mut text = String::from("G90\nM82\nG92 E0\n");
    for i in 0..lines {
        text.push_str(&format!(
            "G1 X{:.3} Y{:.3} E{:.5} F6000\n",
            (i % 200) as f32,
            (i % 150) as f32,
            i as f32 * 0.01
        ));
    }
    let file = dir.path().join("bench.gcode");
    std::fs::write(&file, text).expect("write");
    let start = Instant::now();
    link.print(&file).await.expect("print");
    rx.wait_for(|s| matches!(s.state, PrinterState::Finished { .. }))
        .await
        .expect("finished");
    let took = start.elapsed();
    cancel.cancel();
    took
}

fn streaming(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let lines = 3_000;
    let mut g = c.benchmark_group("host streaming to the simulator over a pty");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(20));
    g.throughput(Throughput::Elements(lines as u64));
    g.bench_function("3000 lines, one in flight", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                total += rt.block_on(stream_once(lines));
            }
            total
        })
    });
    g.finish();
}

criterion_group!(benches, protocol, streaming);
criterion_main!(benches);
