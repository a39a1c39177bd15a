//! Analyzer throughput on large files (MB/s on one core).
//!
//! The inputs are built at bench time, not committed, from the layers of the
//! PrusaSlicer 20 mm cube fixture (with its header and end code around them),
//! until each file is about 64 MiB:
//! * `plate`: every layer holds a 5 × 5 grid of cubes 30 mm apart (~40 kB per
//!   layer, ~1 700 layers): the shape of a typical large print or a print-farm plate;
//! * `stacked`: one cube's layers repeated upwards (~1.5 kB per layer,
//!   ~45 000 layers): the worst case for per-layer costs.
//!
//! Each input is measured twice: in wall-clock time (criterion's default) and
//! in the benchmark thread's CPU time (`/proc/thread-self/schedstat`), which
//! is what one core delivers when the machine is shared with other work.
//!
//! Run with `cargo bench --bench gcode_analyze` (add `-- --quick` for a short run).

use std::hint::black_box;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use layerwatch::gcode;

const TARGET_BYTES: usize = 64 << 20;

/// Writes `line` with its X, Y and Z words (and a `;Z:` comment) moved by `d`.
fn shift(line: &str, d: [f64; 3], out: &mut String) {
    if let Some(z) = line.strip_prefix(";Z:").and_then(|v| v.parse::<f64>().ok()) {
        out.push_str(&format!(";Z:{:.3}\n", z + d[2]));
        return;
    }
    if !(line.starts_with("G1 ") || line.starts_with("G0 ")) {
        out.push_str(line);
        out.push('\n');
        return;
    }
    for (k, word) in line.split(' ').enumerate() {
        if k > 0 {
            out.push(' ');
        }
        let axis = match word.as_bytes().first() {
            Some(b'X') => Some(0),
            Some(b'Y') => Some(1),
            Some(b'Z') => Some(2),
            _ => None,
        };
        match axis.and_then(|a| word[1..].parse::<f64>().ok().map(|v| (a, v))) {
            Some((a, v)) => out.push_str(&format!("{}{:.3}", &word[..1], v + d[a])),
            None => out.push_str(word),
        }
    }
    out.push('\n');
}

/// The fixture's header, its layers and its end code.
fn fixture() -> (String, usize, usize, f64) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gcode/prusa_cube20.gcode");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let analysis = gcode::analyze(text.as_bytes());
    let (first, last) = (analysis.layers.first().expect("layers"), analysis.layers.last().expect("layers"));
    (text.clone(), first.start_offset as usize, last.end_offset as usize, f64::from(analysis.max_z))
}

/// `copies` × `copies` cubes per layer, stacked until the file reaches `TARGET_BYTES`.
fn build(copies: usize) -> Vec<u8> {
    let (text, start, end, height) = fixture();
    let layers: Vec<&str> = text[start..end].split(";LAYER_CHANGE\n").filter(|l| !l.is_empty()).collect();
    let mut out = String::with_capacity(TARGET_BYTES + (end - start) * copies * copies * 2);
    out.push_str(&text[..start]);
    let mut level = 0;
    while out.len() < TARGET_BYTES {
        for layer in &layers {
            out.push_str(";LAYER_CHANGE\n");
            for i in 0..copies * copies {
                let d = [30.0 * (i % copies) as f64, 30.0 * (i / copies) as f64, height * f64::from(level)];
                for line in layer.lines() {
                    shift(line, d, &mut out);
                }
            }
        }
        level += 1;
    }
    out.push_str(&text[end..]);
    out.into_bytes()
}

/// CPU time of the calling thread.
struct ThreadCpuTime;

fn thread_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    let ns = stat.split_whitespace().next().and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    Duration::from_nanos(ns)
}

impl Measurement for ThreadCpuTime {
    type Intermediate = Duration;
    type Value = Duration;
    fn start(&self) -> Duration {
        thread_cpu()
    }
    fn end(&self, start: Duration) -> Duration {
        thread_cpu().saturating_sub(start)
    }
    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }
    fn zero(&self) -> Duration {
        Duration::ZERO
    }
    fn to_f64(&self, v: &Duration) -> f64 {
        v.as_nanos() as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        static WALL: WallTime = WallTime;
        WALL.formatter()
    }
}

/// The two inputs, built once.
fn inputs() -> &'static [(&'static str, Vec<u8>)] {
    static INPUTS: OnceLock<Vec<(&'static str, Vec<u8>)>> = OnceLock::new();
    INPUTS.get_or_init(|| {
        [("plate", 5), ("stacked", 1)]
            .into_iter()
            .map(|(name, copies)| {
                let data = build(copies);
                let a = gcode::analyze(&data);
                eprintln!(
                    "{name}: {:.1} MiB, {} lines, {} layers ({:.1} kB/layer), max z {:.0} mm, grid {:?}",
                    data.len() as f64 / f64::from(1 << 20),
                    a.total_lines,
                    a.layers.len(),
                    data.len() as f64 / 1000.0 / a.layers.len().max(1) as f64,
                    a.max_z,
                    a.grid.map(|g| (g.cols, g.rows, g.cell_mm))
                );
                (name, data)
            })
            .collect()
    })
}

fn bench<M: Measurement>(c: &mut Criterion<M>, clock: &str) {
    for (name, data) in inputs() {
        let mut g = c.benchmark_group(format!("{name}/{clock}"));
        g.throughput(Throughput::Bytes(data.len() as u64));
        g.sample_size(10);
        g.bench_function("analyze", |b| b.iter(|| black_box(gcode::analyze(black_box(data)))));
        g.bench_function("analyze_reader", |b| {
            b.iter(|| black_box(gcode::analyze_reader(black_box(&data[..])).expect("in-memory read")))
        });
        g.bench_function("parse_only", |b| {
            b.iter(|| {
                let mut words = 0usize;
                for line in gcode::parser::lines(black_box(data)) {
                    words += line.words.len();
                }
                black_box(words)
            })
        });
        g.finish();
    }
}

fn wall(c: &mut Criterion) {
    bench(c, "wall");
}

fn cpu(c: &mut Criterion<ThreadCpuTime>) {
    bench(c, "cpu");
}

criterion_group!(wall_clock, wall);
criterion_group! {
    name = cpu_time;
    config = Criterion::default().with_measurement(ThreadCpuTime);
    targets = cpu
}
criterion_main!(wall_clock, cpu_time);
