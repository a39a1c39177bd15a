//! Frame path benchmark: 1280×720 JPEG → decode → preprocess → inference → scores, one thread.
//!
//! At start it makes camera-like 720p frames (quality 85) from `datasets/samples`
//! (letterboxed, zoomed, mirrored, brightened: 210 distinct frames) and writes
//! them to `target/frame_path/frames/` for the Python reference and the RSS run.
//! Then (with `--bench`), for the fp32 and the int8 model, a plain loop records
//! every frame's latency and prints frames/s, p50/p99 and the stage breakdown
//! (also as JSON in `target/frame_path/rust_{fp32,int8}.json`); a batch loop scores
//! the frames 1, 4 and 8 at a time (several cameras' frames in one inference,
//! `classify_batch`) and records frames per CPU-second (`batch_{fp32,int8}.json`);
//! and criterion measures the whole path and each stage. Under `cargo test` it
//! only checks that every stage runs once.
//! `scripts/bench_frame_path.sh` runs it pinned to one core with the Python
//! reference beside it.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::Criterion;
use layerwatch::domain::{Frame, FrameImage, Timestamp};
use layerwatch::vision::{Classifier, ClassifierOptions, Model, OnnxClassifier, Precision, jpeg};
use opencv::core::{Mat, Rect, Scalar, Size, Vector};
use opencv::prelude::*;
use opencv::{core, imgcodecs, imgproc};

const W: i32 = 1280;
const H: i32 = 720;
const VARIANTS: usize = 15;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// One camera-like frame: the sample letterboxed on a 1280×720 canvas, zoomed, maybe mirrored, brightened.
fn make_frame(src: &Mat, variant: usize) -> opencv::Result<Vec<u8>> {
    let zoom = 1.0 + 0.04 * variant as f64;
    let s = zoom * (W as f64 / src.cols() as f64).min(H as f64 / src.rows() as f64);
    let (nw, nh) = (
        (src.cols() as f64 * s).round() as i32,
        (src.rows() as f64 * s).round() as i32,
    );
    let mut scaled = Mat::default();
    imgproc::resize(src, &mut scaled, Size::new(nw, nh), 0.0, 0.0, imgproc::INTER_LINEAR)?;
    let mut canvas = Mat::new_rows_cols_with_default(H, W, core::CV_8UC3, Scalar::all(20.0))?;
    // Centre the scaled picture; crop what overflows the canvas.
    let (cw, ch) = (nw.min(W), nh.min(H));
    let from = Rect::new((nw - cw) / 2, (nh - ch) / 2, cw, ch);
    let to = Rect::new((W - cw) / 2, (H - ch) / 2, cw, ch);
    let part = scaled.roi(from)?;
    let mut dst = canvas.roi_mut(to)?;
    part.copy_to(&mut dst)?;
    let mut out = Mat::default();
    if variant % 2 == 1 {
        core::flip(&canvas, &mut out, 1)?;
    } else {
        out = canvas;
    }
    let mut lit = Mat::default();
    out.convert_to(&mut lit, -1, 1.0, (variant as f64 - 7.0) * 4.0)?;
    let mut buf = Vector::<u8>::new();
    imgcodecs::imencode(
        ".jpg",
        &lit,
        &mut buf,
        &Vector::from_slice(&[imgcodecs::IMWRITE_JPEG_QUALITY, 85]),
    )?;
    Ok(buf.to_vec())
}

fn make_frames(variants: usize) -> Vec<Vec<u8>> {
    let dir = repo().join("datasets/samples/images");
    let mut samples: Vec<PathBuf> = Vec::new();
    for sub in std::fs::read_dir(&dir).expect("datasets/samples/images") {
        for f in std::fs::read_dir(sub.expect("entry").path()).expect("sample folder") {
            samples.push(f.expect("entry").path());
        }
    }
    samples.sort();
    let mut frames = Vec::new();
    for v in 0..variants {
        for p in &samples {
            let src = imgcodecs::imread(p.as_os_str(), imgcodecs::IMREAD_COLOR).expect("imread");
            frames.push(make_frame(&src, v).expect("make frame"));
        }
    }
    frames
}

fn frame(seq: u64, bytes: &[u8]) -> Frame {
    Frame {
        seq,
        captured_at: Timestamp::from_millis(seq as i64),
        source: "bench".into(),
        image: FrameImage::Jpeg(bytes.to_vec().into()),
    }
}

fn classifier(precision: Precision) -> OnnxClassifier {
    let opts = ClassifierOptions {
        threads: 1,
        warmup_runs: 10,
        ..ClassifierOptions::default()
    };
    let model = Model::built_in_precision(precision).expect("built-in model");
    OnnxClassifier::new(model, &opts).expect("classifier")
}

fn precision_name(p: Precision) -> &'static str {
    match p {
        Precision::Fp32 => "fp32",
        Precision::Int8 => "int8",
    }
}

/// CPU time of this thread: with one ONNX Runtime and one OpenCV thread, all the frame's work runs
/// here, so frames per CPU-second does not depend on what else the machine is doing.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime only writes the timespec we own.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)]
}

/// Classifies frames round-robin for `secs`, recording each frame's wall-clock and CPU time, then
/// times each stage on its own (CPU time); prints and saves the figures.
fn latency_loop(c: &mut OnnxClassifier, frames: &[Frame], secs: f64, out_dir: &Path, precision: Precision) {
    for f in frames.iter().take(20) {
        c.classify(f).expect("warm-up");
    }
    let (mut wall, mut cpu) = (Vec::new(), Vec::new());
    let start = Instant::now();
    let mut i = 0;
    while start.elapsed().as_secs_f64() < secs || i < frames.len() {
        let (t0, c0) = (Instant::now(), thread_cpu());
        let s = c.classify(&frames[i % frames.len()]).expect("classify");
        wall.push(ms(t0.elapsed()));
        cpu.push(ms(thread_cpu() - c0));
        std::hint::black_box(s);
        i += 1;
    }
    let elapsed = start.elapsed().as_secs_f64();
    // Stage by stage, CPU time: decode (marker walk + libjpeg-turbo), resize + tensor, inference.
    let pre = c.preprocessor().clone();
    let mut tensor = vec![0f32; pre.tensor_len()];
    let (mut d, mut r, mut m) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    let stage_frames = frames.len().min(200);
    for f in &frames[..stage_frames] {
        let c0 = thread_cpu();
        let decoded = pre.decode(&f.image).expect("decode");
        let c1 = thread_cpu();
        let resized = pre.resize(&decoded).expect("resize");
        pre.write_tensor(&resized, &mut tensor).expect("tensor");
        let c2 = thread_cpu();
        std::hint::black_box(c.infer_tensor(&tensor, 1).expect("inference"));
        let c3 = thread_cpu();
        d += c1 - c0;
        r += c2 - c1;
        m += c3 - c2;
    }
    let k = stage_frames as f64;
    let (d, r, m) = (ms(d) / k, ms(r) / k, ms(m) / k);
    let n = wall.len() as f64;
    let (wall_sum, cpu_sum): (f64, f64) = (wall.iter().sum(), cpu.iter().sum());
    wall.sort_by(f64::total_cmp);
    cpu.sort_by(f64::total_cmp);
    let (p50, p99) = (percentile(&wall, 0.50), percentile(&wall, 0.99));
    let (cpu50, cpu99) = (percentile(&cpu, 0.50), percentile(&cpu, 0.99));
    let name = precision_name(precision);
    println!(
        "rust {name} (scaled decode): {:.1} frames/s wall, {:.1} per CPU-second | wall p50 {p50:.2} ms p99 {p99:.2} ms | \
         CPU p50 {cpu50:.2} ms p99 {cpu99:.2} ms | CPU per stage: decode {d:.2} ms, resize+tensor {r:.2} ms, \
         inference {m:.2} ms ({} frames in {elapsed:.1} s, 1280x720 q85)",
        n / wall_sum * 1e3,
        n / cpu_sum * 1e3,
        wall.len()
    );
    let json = serde_json::json!({
        "impl": "rust", "model": name, "frames": wall.len(), "fps": n / wall_sum * 1e3, "fps_cpu": n / cpu_sum * 1e3,
        "p50_ms": p50, "p99_ms": p99, "cpu_p50_ms": cpu50, "cpu_p99_ms": cpu99,
        "decode_ms": d, "resize_tensor_ms": r, "inference_ms": m, "frame_size": [W, H],
    });
    std::fs::write(out_dir.join(format!("rust_{name}.json")), json.to_string()).expect("write rust json");
}

/// Frames scored `batch` at a time for `secs` each (one inference per batch, as a shared inference
/// pool would run several cameras' frames): frames per CPU-second and per wall-second.
fn batch_loop(c: &mut OnnxClassifier, frames: &[Frame], secs: f64, out_dir: &Path, precision: Precision) {
    let name = precision_name(precision);
    let mut rows = Vec::new();
    for batch in [1usize, 4, 8] {
        for chunk in frames.chunks(batch).take(3) {
            std::hint::black_box(c.classify_batch(chunk));
        }
        let (start, c0) = (Instant::now(), thread_cpu());
        let (mut n, mut i) = (0usize, 0usize);
        while start.elapsed().as_secs_f64() < secs {
            let chunk: Vec<Frame> = (0..batch).map(|k| frames[(i + k) % frames.len()].clone()).collect();
            for r in c.classify_batch(&chunk) {
                std::hint::black_box(r.expect("classify"));
            }
            n += batch;
            i += batch;
        }
        let (wall, cpu) = (start.elapsed().as_secs_f64(), (thread_cpu() - c0).as_secs_f64());
        println!(
            "rust {name} batch {batch}: {:.1} frames per CPU-second, {:.1} frames/s wall ({n} frames)",
            n as f64 / cpu,
            n as f64 / wall
        );
        rows.push(serde_json::json!({"batch": batch, "frames": n, "fps_cpu": n as f64 / cpu, "fps": n as f64 / wall}));
    }
    let json = serde_json::json!({"model": name, "batches": rows});
    std::fs::write(out_dir.join(format!("batch_{name}.json")), json.to_string()).expect("write batch json");
}

fn criterion_benches(c: &mut Criterion, cls: &mut OnnxClassifier, frames: &[Frame]) {
    let pre = cls.preprocessor().clone();
    let mut g = c.benchmark_group("frame_path_720p");
    let mut i = 0;
    g.bench_function("full", |b| {
        b.iter(|| {
            i += 1;
            cls.classify(&frames[i % frames.len()]).expect("classify")
        })
    });
    g.bench_function("decode", |b| {
        b.iter(|| {
            i += 1;
            pre.decode(&frames[i % frames.len()].image).expect("decode")
        })
    });
    g.bench_function("marker_walk", |b| {
        b.iter(|| {
            i += 1;
            match &frames[i % frames.len()].image {
                FrameImage::Jpeg(bytes) => jpeg::inspect(bytes).expect("valid jpeg"),
                FrameImage::Rgb(_) => unreachable!("bench frames are JPEG"),
            }
        })
    });
    let decoded = pre.decode(&frames[0].image).expect("decode");
    let mut tensor = vec![0f32; pre.tensor_len()];
    g.bench_function("resize_and_tensor", |b| {
        b.iter(|| {
            let r = pre.resize(&decoded).expect("resize");
            pre.write_tensor(&r, &mut tensor).expect("tensor")
        })
    });
    g.bench_function("inference", |b| {
        b.iter(|| cls.infer_tensor(&tensor, 1).expect("inference"))
    });
    g.finish();
}

fn main() {
    let bench_mode = std::env::args().any(|a| a == "--bench");
    let out_dir = repo().join("target/frame_path");
    let frames_dir = out_dir.join("frames");
    let raw = make_frames(if bench_mode { VARIANTS } else { 1 });
    if bench_mode {
        let _ = std::fs::remove_dir_all(&frames_dir);
        std::fs::create_dir_all(&frames_dir).expect("create target/frame_path/frames");
        for (i, f) in raw.iter().enumerate() {
            std::fs::write(frames_dir.join(format!("frame{i:04}.jpg")), f).expect("write frame");
        }
        println!("{} frames of 1280x720 written to {}", raw.len(), frames_dir.display());
    }
    let frames: Vec<Frame> = raw.iter().enumerate().map(|(i, b)| frame(i as u64, b)).collect();
    let secs = std::env::var("FRAME_PATH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(15.0);
    for precision in [Precision::Int8, Precision::Fp32] {
        let mut cls = classifier(precision);
        let t = cls.load_times();
        println!(
            "classifier {}: load {:.1} ms, warm-up {:.1} ms (10 runs)",
            precision_name(precision),
            ms(t.load),
            ms(t.warmup)
        );
        if bench_mode {
            latency_loop(&mut cls, &frames, secs, &out_dir, precision);
            batch_loop(&mut cls, &frames, secs / 3.0, &out_dir, precision);
        } else {
            assert_eq!(cls.classify_batch(&frames[..4.min(frames.len())]).len(), 4.min(frames.len()));
        }
    }
    let mut cls = classifier(Precision::Fp32);
    let mut c = Criterion::default().configure_from_args();
    criterion_benches(&mut c, &mut cls, &frames);
    c.final_summary();
}
