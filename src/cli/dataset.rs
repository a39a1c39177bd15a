//! `layerwatch dataset import|synth|check`: bring other dataset layouts into
//! format (a), generate synthetic sequences (format b) from labelled stills
//! and a sliced file, and check a dataset's files without scoring anything.
//!
//! Exit codes: 0 done, 1 done but inputs were skipped (listed), 2 usage or setup error.

use std::path::PathBuf;
use std::process::ExitCode;

use super::Global;
use super::record::parse_duration;
use crate::eval::dataset::import::{CopyMode, ImportFrom, ImportOptions, import};
use crate::eval::dataset::{self, DatasetKind, Selection};
use crate::eval::synth::{Filter, Noise, SynthOptions, generate};
use crate::eval::taxonomy::LabelMap;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: DatasetCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum DatasetCommand {
    /// Convert class folders, a Roboflow/YOLO export or a CSV into labels.csv + images/.
    Import(ImportArgs),
    /// Generate synthetic recorded sequences from labelled images and a sliced G-code file.
    Synth(SynthArgs),
    /// Load a dataset and list what would be skipped, without scoring.
    Check(CheckArgs),
    /// Render a sequence from a G-code file through a calibrated camera over a background picture.
    Render(RenderArgs),
}

#[derive(Debug, clap::Args)]
pub struct RenderArgs {
    /// The sliced file to draw, layer by layer.
    #[arg(long)]
    pub gcode: PathBuf,
    /// The camera file (cameras/<printer>.toml); its frame size is the render's.
    #[arg(long)]
    pub camera: PathBuf,
    /// Any picture (a photo of the printer with an empty bed), stretched to the frame.
    #[arg(long)]
    pub background: PathBuf,
    /// The sequence folder to write.
    #[arg(long)]
    pub out: PathBuf,
    /// Sequence name.
    #[arg(long, default_value = "render")]
    pub name: String,
    /// Frames in the sequence.
    #[arg(long, default_value_t = 120)]
    pub frames: usize,
    /// Time between frames (e.g. 2s, 500ms).
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub interval: std::time::Duration,
    /// Frames before printing starts (empty bed, toolhead parked).
    #[arg(long, default_value_t = 3)]
    pub heat_frames: usize,
    /// Failure to inject from the onset layer on.
    #[arg(long, value_enum)]
    pub failure: Option<crate::eval::render::RenderFailure>,
    /// Onset as a share of the print's layers.
    #[arg(long, default_value_t = 0.5)]
    pub onset: f64,
    /// Layer shift on the bed, DX,DY mm.
    #[arg(long, default_value = "6,0", value_parser = parse_pair_f64)]
    pub shift_mm: (f64, f64),
    /// Switch a lamp at this share of the sequence (brightness × --lamp-gain, with a gradient).
    #[arg(long)]
    pub lamp_change_at: Option<f64>,
    /// Brightness factor after the lamp switch.
    #[arg(long, default_value_t = 0.7)]
    pub lamp_gain: f64,
    /// Slow brightness drift (share).
    #[arg(long, default_value_t = 0.06)]
    pub drift: f64,
    /// Sensor noise, grey levels (standard deviation).
    #[arg(long, default_value_t = 3.0)]
    pub noise: f64,
    /// JPEG quality.
    #[arg(long, default_value_t = 88)]
    pub quality: i32,
    /// Park the toolhead for the first frame of each layer (the layer-change reference frame).
    #[arg(long)]
    pub park_at_layer_change: bool,
    /// Random seed: the same seed and inputs give the same frames.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// Source layout.
    #[arg(long, value_enum)]
    pub from: ImportFrom,
    /// Source folder (class folders, YOLO export) or CSV file.
    pub src: PathBuf,
    /// New dataset folder (gets labels.csv and images/).
    #[arg(long)]
    pub out: PathBuf,
    /// Rename a source class to a dataset label: SRC=LABEL (repeatable), e.g. fail=failure.
    #[arg(long = "map", value_name = "SRC=LABEL")]
    pub map: Vec<String>,
    /// Value of the `source` column (default: the source folder's name).
    #[arg(long)]
    pub source: Option<String>,
    /// Symlink images instead of copying them.
    #[arg(long)]
    pub symlink: bool,
    /// YOLO: classes whose boxes mean a failure (comma-separated); default: classes with a failure label.
    #[arg(long, value_delimiter = ',')]
    pub failure_classes: Vec<String>,
    /// CSV: column holding the image path.
    #[arg(long, default_value = "path")]
    pub path_column: String,
    /// CSV: column holding the label.
    #[arg(long, default_value = "label")]
    pub label_column: String,
}

#[derive(Debug, clap::Args)]
pub struct SynthArgs {
    /// Labelled images (labels.csv or its folder, or class folders).
    #[arg(long)]
    pub images: PathBuf,
    /// The sliced file whose layers drive the printer stream.
    #[arg(long)]
    pub gcode: PathBuf,
    /// Folder for the sequences (or, with --single, the sequence folder itself).
    #[arg(long)]
    pub out: PathBuf,
    /// Write one sequence directly into --out.
    #[arg(long)]
    pub single: bool,
    /// Sequence name (with --single) or name prefix.
    #[arg(long, default_value = "synth")]
    pub name: String,
    /// How many sequences to generate.
    #[arg(long, default_value_t = 10)]
    pub count: usize,
    /// Frames per sequence.
    #[arg(long, default_value_t = 120)]
    pub frames: usize,
    /// Time between frames (e.g. 2s, 500ms).
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub interval: std::time::Duration,
    /// Only images of this split (train, val, test).
    #[arg(long)]
    pub split: Option<String>,
    /// Keep rows where COLUMN=VALUE or COLUMN^=PREFIX (repeatable; OR within a column, AND across columns).
    #[arg(long = "where", value_name = "FILTER")]
    pub filters: Vec<String>,
    /// A file listing the image names (as in the labels file) to draw from, one per line.
    #[arg(long)]
    pub pick: Option<PathBuf>,
    /// Share of sequences with a failure.
    #[arg(long, default_value_t = 0.5)]
    pub failure_share: f64,
    /// Onset range as shares of the sequence: LO,HI.
    #[arg(long, default_value = "0.35,0.65", value_parser = parse_pair_f64)]
    pub onset: (f64, f64),
    /// Failure labels to draw from (comma-separated dataset labels); default: all.
    #[arg(long, value_delimiter = ',')]
    pub kinds: Vec<String>,
    /// Frame size WxH.
    #[arg(long, default_value = "640x480", value_parser = parse_size_wh)]
    pub size: (u32, u32),
    /// JPEG quality range LO,HI.
    #[arg(long, default_value = "60,85", value_parser = parse_pair_i32)]
    pub quality: (i32, i32),
    /// Largest frame in KiB (quality is lowered to fit); 0 = no limit.
    #[arg(long, default_value_t = 0)]
    pub max_frame_kb: usize,
    /// Frames of heating (printer state `heating`) before the print starts.
    #[arg(long, default_value_t = 2)]
    pub heat_frames: usize,
    /// Frames after the onset over which failure frames become the rule (0 = a clean switch).
    #[arg(long, default_value_t = 0)]
    pub ramp: usize,
    /// No camera effects (brightness, frozen/dark runs, hand, shake): a clean sequence.
    #[arg(long)]
    pub no_noise: bool,
    /// Random seed: the same seed and inputs give the same sequences.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Print seconds per sequence second (default: the print fills the sequence).
    #[arg(long)]
    pub time_scale: Option<f64>,
    /// Attribution text for the manifest.
    #[arg(long)]
    pub attribution: Option<String>,
    /// Map a dataset label onto a model class: LABEL=CLASS.
    #[arg(long = "map", value_name = "LABEL=CLASS")]
    pub map: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The dataset: a labels.csv (or its folder), class folders, or sequences.
    pub path: PathBuf,
    /// Only rows of this split (train, val, test).
    #[arg(long)]
    pub split: Option<String>,
    /// Map a dataset label onto a model class: LABEL=CLASS (repeatable).
    #[arg(long = "map", value_name = "LABEL=CLASS")]
    pub map: Vec<String>,
}

fn parse_pair_f64(s: &str) -> Result<(f64, f64), String> {
    let (a, b) = s.split_once(',').ok_or_else(|| format!("{s:?}: expected LO,HI"))?;
    let a: f64 = a.trim().parse().map_err(|_| format!("{a:?} is not a number"))?;
    let b: f64 = b.trim().parse().map_err(|_| format!("{b:?} is not a number"))?;
    Ok((a, b))
}

fn parse_pair_i32(s: &str) -> Result<(i32, i32), String> {
    let (a, b) = parse_pair_f64(s)?;
    Ok((a as i32, b as i32))
}

pub(super) fn parse_size_wh(s: &str) -> Result<(u32, u32), String> {
    let (w, h) = s.split_once(['x', 'X']).ok_or_else(|| format!("{s:?}: expected WxH, e.g. 640x480"))?;
    let w: u32 = w.trim().parse().map_err(|_| format!("{w:?} is not a width"))?;
    let h: u32 = h.trim().parse().map_err(|_| format!("{h:?} is not a height"))?;
    if !(16..=8192).contains(&w) || !(16..=8192).contains(&h) {
        return Err(format!("{s}: width and height must be 16..8192"));
    }
    Ok((w, h))
}

pub async fn run(a: Args, g: &Global) -> anyhow::Result<ExitCode> {
    let _ = g.load_config()?;
    match a.command {
        DatasetCommand::Import(i) => {
            let mut opts = ImportOptions::new(i.from, &i.src, &i.out).with_renames(&i.map)?;
            opts.source = i.source;
            opts.copy = if i.symlink { CopyMode::Symlink } else { CopyMode::Copy };
            opts.failure_classes = (!i.failure_classes.is_empty()).then_some(i.failure_classes);
            opts.path_column = i.path_column;
            opts.label_column = i.label_column;
            let s = tokio::task::spawn_blocking(move || import(&opts)).await??;
            println!("imported {} images into {}", s.images, s.labels_csv.display());
            for (l, n) in &s.per_label {
                println!("  {l:<16} {n}");
            }
            for k in &s.skipped {
                eprintln!("skipped: {k}");
            }
            Ok(if s.skipped.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
        DatasetCommand::Synth(s) => {
            let mut o = SynthOptions::new(&s.images, &s.gcode, &s.out);
            o.selection = Selection { split: s.split };
            o.filters = s.filters.iter().map(|f| Filter::parse(f)).collect::<Result<_, _>>()?;
            o.pick = s.pick;
            o.label_map = LabelMap::with_overrides(&s.map)?;
            o.single = s.single;
            o.name = s.name;
            o.count = s.count;
            o.frames = s.frames;
            o.interval_ms = s.interval.as_millis().max(1) as u64;
            o.failure_share = s.failure_share.clamp(0.0, 1.0);
            o.onset = s.onset;
            o.kinds = s.kinds;
            (o.width, o.height) = s.size;
            o.quality = s.quality;
            o.max_frame_bytes = s.max_frame_kb * 1024;
            o.heat_frames = s.heat_frames;
            o.ramp_frames = s.ramp;
            if s.no_noise {
                o.noise = Noise::none();
            }
            o.seed = s.seed;
            o.time_scale = s.time_scale;
            o.attribution = s.attribution;
            o.command = std::env::args().collect::<Vec<_>>().join(" ");
            let r = tokio::task::spawn_blocking(move || generate(&o)).await??;
            println!(
                "wrote {} sequence(s) ({} with a failure), {} frames from {} distinct source images",
                r.sequences.len(),
                r.failures,
                r.frames,
                r.source_images
            );
            for p in &r.sequences {
                println!("  {}", p.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        DatasetCommand::Render(r) => {
            let mut o = crate::eval::render::RenderOptions::new(r.gcode, r.camera, r.background, r.out);
            o.name = r.name;
            o.frames = r.frames;
            o.interval_ms = r.interval.as_millis().max(1) as u64;
            o.heat_frames = r.heat_frames;
            o.failure = r.failure;
            o.onset = r.onset;
            o.shift_mm = [r.shift_mm.0, r.shift_mm.1];
            o.lamp_change_at = r.lamp_change_at;
            o.lamp_gain = r.lamp_gain;
            o.drift = r.drift;
            o.noise = r.noise;
            o.park_at_layer_change = r.park_at_layer_change;
            o.jpeg_quality = r.quality.clamp(5, 100);
            o.seed = r.seed;
            o.command = std::env::args().collect::<Vec<_>>().join(" ");
            let s = tokio::task::spawn_blocking(move || crate::eval::render::render(&o)).await??;
            println!(
                "rendered {} frames of {} layers into {}{}",
                s.frames,
                s.layers,
                s.dir.display(),
                match (s.onset_frame, s.onset_layer) {
                    (Some(f), Some(l)) => format!(" (failure from frame {f}, layer {l})"),
                    _ => String::new(),
                }
            );
            Ok(ExitCode::SUCCESS)
        }
        DatasetCommand::Check(c) => {
            let kind = dataset::detect(&c.path)?;
            let map = LabelMap::with_overrides(&c.map)?;
            let skipped = match &kind {
                DatasetKind::Sequences(dirs) => {
                    let (seqs, mut skips) = dataset::load_sequences(dirs);
                    for s in &seqs {
                        let l = &s.manifest.label;
                        println!(
                            "{}: {} frames, {:.0} s, printer {}, g-code {}, {}",
                            s.dir.display(),
                            s.frames.len(),
                            s.duration_s(),
                            s.printer.as_ref().map_or("none".to_string(), |p| format!("{} statuses", p.len())),
                            s.gcode.as_ref().map_or("none".to_string(), |a| format!("{} layers", a.layers.len())),
                            if l.failure {
                                format!("failure {} at {:?} ms", l.kind.as_deref().unwrap_or("?"), l.onset_ms)
                            } else {
                                "normal".into()
                            }
                        );
                        skips.extend(s.skipped.iter().cloned());
                    }
                    skips
                }
                _ => {
                    let set = dataset::load_images(&kind, &map, &Selection { split: c.split })?;
                    let fails = set.images.iter().filter(|i| i.failure).count();
                    println!(
                        "{}: {} images ({} failures, {} normal)",
                        c.path.display(),
                        set.images.len(),
                        fails,
                        set.images.len() - fails
                    );
                    set.skipped
                }
            };
            for s in &skipped {
                println!("skipped: {s}");
            }
            Ok(if skipped.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
    }
}
