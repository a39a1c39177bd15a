//! Images per second on `eval`'s image path: read a JPEG file → decode →
//! preprocess → ONNX inference → scores, on the scoring pool (one ONNX session
//! per worker, `threads = 1` each), exactly what `layerwatch eval <labels.csv>`
//! runs per image.
//!
//! Uses the 14 licence-OK images in `datasets/samples/` (at most 448 px on the
//! longer side, like the development set), listed 8 times (112 files per
//! iteration; the OS cache keeps them in memory, so this measures CPU, not the
//! disk). Criterion reports elements/s for 1 worker and for every core.
//! `cargo bench --bench eval_images`. Needs `.tools/ort` (`scripts/setup.sh test`).

use std::path::PathBuf;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use layerwatch::eval::Scorer;
use layerwatch::eval::progress::Progress;
use layerwatch::eval::score::default_workers;
use layerwatch::vision::{ClassifierOptions, Model};
use tokio_util::sync::CancellationToken;

fn files() -> Vec<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("datasets/samples");
    let text = std::fs::read_to_string(root.join("labels.csv")).expect("datasets/samples/labels.csv");
    let one: Vec<PathBuf> =
        text.lines().skip(1).filter_map(|l| l.split(',').next()).map(|p| root.join(p)).collect();
    assert_eq!(one.len(), 14, "datasets/samples should list 14 images");
    (0..8).flat_map(|_| one.iter().cloned()).collect()
}

fn scorer(workers: usize) -> Scorer {
    let ort = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".tools/ort/libonnxruntime.so");
    assert!(ort.is_file(), "ONNX Runtime is missing at {}: run `scripts/setup.sh test`", ort.display());
    let model = Model::built_in().expect("built-in model");
    Scorer::onnx(model, &ClassifierOptions::default(), workers).expect("classifier")
}

fn bench(c: &mut Criterion) {
    let paths = files();
    let cancel = CancellationToken::new();
    let mut g = c.benchmark_group("eval_images");
    g.throughput(Throughput::Elements(paths.len() as u64));
    g.sample_size(10);
    let mut counts = vec![1, default_workers()];
    counts.dedup();
    for workers in counts {
        let s = scorer(workers);
        // Warm every worker's session once outside the measurement.
        let first = s.score_files(&paths, &Progress::hidden(paths.len() as u64), &cancel).expect("score");
        assert!(first.iter().all(Result::is_ok), "every sample must score");
        g.bench_function(format!("score_files/{workers}_workers"), |b| {
            b.iter(|| {
                let r = s.score_files(&paths, &Progress::hidden(paths.len() as u64), &cancel).expect("score");
                std::hint::black_box(r)
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
