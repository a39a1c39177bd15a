//! `layerwatch gcode info <FILE> [--json] [--layers]`: what a G-code file
//! will print, layer by layer.
//!
//! The text output is for people. `--json` prints one object in the stable
//! schema `layerwatch.gcode.info/1` (documented on [`Info`]); fields are only
//! ever added, never renamed or removed, within a schema version.
//! Exit codes: 0 analysed, 1 analysed but nothing printable found (no layers),
//! 2 the file could not be read.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use serde::Serialize;

use crate::gcode::{self, Analysis, BBox, Grid};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: GcodeCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum GcodeCommand {
    /// Summarise a G-code file: slicer, layers, time, filament, objects, size, warnings.
    Info(InfoArgs),
}

#[derive(Debug, clap::Args)]
pub struct InfoArgs {
    /// The G-code file to analyse.
    pub file: PathBuf,
    /// Print JSON (schema `layerwatch.gcode.info/1`) instead of text.
    #[arg(long)]
    pub json: bool,
    /// Also list every layer.
    #[arg(long)]
    pub layers: bool,
}

/// JSON schema identifier of [`Info`].
pub const SCHEMA: &str = "layerwatch.gcode.info/1";
/// Warnings listed in full (all are counted in `warning_counts`).
const LISTED_WARNINGS: usize = 50;

/// `layerwatch.gcode.info/1`: the file as a whole. Lengths in mm, times in
/// seconds, offsets in bytes from the file's start, lines 1-based; ranges are
/// half-open `[start, end)`. `null` means unknown.
#[derive(Debug, Serialize)]
pub struct Info {
    /// Always `layerwatch.gcode.info/1`.
    pub schema: &'static str,
    pub file: String,
    pub total_bytes: u64,
    pub total_lines: u64,
    /// `{ "kind": "prusa_slicer" | "cura" | …, "name": "PrusaSlicer", "version": "2.5.0" | null }`.
    pub slicer: Option<SlicerInfo>,
    /// `comments` (slicer markers), `geometry` (Z changes) or `none`.
    pub layer_source: gcode::LayerSource,
    pub layer_count: usize,
    /// The slicer's own count, when its header gives one.
    pub reported_layer_count: Option<u32>,
    pub first_z: Option<f32>,
    pub last_z: Option<f32>,
    /// Nominal layer height from the header, else the median of the layers'.
    pub layer_height: Option<f32>,
    /// The slicer's estimate.
    pub estimated_time_s: Option<f64>,
    /// Distance / feed rate, no acceleration: a lower bound.
    pub kinematic_time_s: f64,
    /// Net filament extruded by the moves.
    pub filament_mm: f64,
    /// The slicer's figure.
    pub reported_filament_mm: Option<f64>,
    pub filament_diameter_mm: f32,
    /// Box around all material deposited on layers.
    pub bbox: Option<BBoxInfo>,
    /// The footprint raster (print area, ≤ 64 × 64 cells).
    pub grid: Option<Grid>,
    pub objects: Vec<ObjectInfo>,
    /// Deposited filament per feature over all layers, largest first.
    pub features: Vec<FeatureInfo>,
    /// `m73` or `bytes`.
    pub progress_source: gcode::ProgressSource,
    /// `slicer_elapsed`, `scaled_kinematic` or `kinematic`.
    pub time_source: gcode::TimeSource,
    pub tool_changes: u32,
    /// The file's Z-hop height, when it lifts the nozzle on travel.
    pub z_hop_mm: Option<f32>,
    /// Pauses the file asks for: `{ "kind": "filament_change" | "pause", "line", "offset", "layer" }`.
    pub planned_pauses: Vec<gcode::PlannedPause>,
    pub warning_count: u64,
    /// Count per kind (`junk`, `binary`, `overlong`, …).
    pub warning_counts: BTreeMap<&'static str, u64>,
    /// The first 50 warnings.
    pub warnings: Vec<WarningInfo>,
    /// Present only with `--layers`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layers: Option<Vec<LayerInfo>>,
}

#[derive(Debug, Serialize)]
pub struct SlicerInfo {
    pub kind: gcode::SlicerKind,
    pub name: &'static str,
    pub version: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct BBoxInfo {
    pub min: [f32; 3],
    pub max: [f32; 3],
    pub size: [f32; 3],
}

impl From<BBox> for BBoxInfo {
    fn from(b: BBox) -> Self {
        BBoxInfo { min: b.min, max: b.max, size: b.size() }
    }
}

#[derive(Debug, Serialize)]
pub struct ObjectInfo {
    pub index: u32,
    pub name: String,
    pub extruded_mm: f32,
    pub first_layer: Option<u32>,
    pub last_layer: Option<u32>,
    pub bbox: Option<BBoxInfo>,
    pub center: Option<[f32; 2]>,
}

#[derive(Debug, Serialize)]
pub struct FeatureInfo {
    pub feature: String,
    pub extruded_mm: f32,
}

#[derive(Debug, Serialize)]
pub struct WarningInfo {
    pub line: u64,
    pub offset: u64,
    pub kind: &'static str,
    pub message: String,
}

/// One row per layer.
#[derive(Debug, Serialize)]
pub struct LayerInfo {
    pub index: u32,
    pub z: f32,
    pub height: f32,
    pub start_offset: u64,
    pub end_offset: u64,
    pub start_line: u64,
    pub end_line: u64,
    pub extruded_mm: f32,
    pub area_mm2: f32,
    pub bbox: Option<BBoxInfo>,
    pub progress_at_start: Option<f32>,
    pub time_at_start_s: Option<f64>,
    /// The slicer's `M73 R` remaining time at the layer's first extrusion.
    pub remaining_s_at_start: Option<f64>,
    pub slicer_layer: Option<i64>,
    /// Feature name → deposited filament, in order of first appearance.
    pub features: Vec<FeatureInfo>,
    pub objects: Vec<u32>,
    /// Occupied cells of `grid`.
    pub footprint_cells: usize,
}

pub async fn run(args: Args, global: &super::Global) -> anyhow::Result<ExitCode> {
    let filter = match global.verbose {
        0 => "warn",
        1 => "debug",
        _ => "trace",
    };
    crate::telemetry::init(filter, crate::config::LogFormat::Text);
    match args.command {
        GcodeCommand::Info(a) => info(a).await,
    }
}

async fn info(args: InfoArgs) -> anyhow::Result<ExitCode> {
    let path = args.file.clone();
    let analysis = tokio::task::spawn_blocking(move || gcode::analyze_file(&path))
        .await
        .context("g-code analysis task failed")??;
    let info = build(&args.file.display().to_string(), &analysis, args.layers);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&info)?);
    } else {
        print!("{}", render_text(&info));
    }
    Ok(if analysis.layers.is_empty() { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

/// Builds the report (also used by tests and other front ends).
pub fn build(file: &str, a: &Analysis, with_layers: bool) -> Info {
    let mut features: BTreeMap<String, f32> = BTreeMap::new();
    for l in &a.layers {
        for (f, e) in &l.features {
            *features.entry(f.as_str().to_string()).or_insert(0.0) += e;
        }
    }
    let mut features: Vec<FeatureInfo> =
        features.into_iter().map(|(feature, extruded_mm)| FeatureInfo { feature, extruded_mm }).collect();
    features.sort_by(|a, b| b.extruded_mm.total_cmp(&a.extruded_mm));
    let mut heights: Vec<f32> = a.layers.iter().map(|l| l.height).collect();
    heights.sort_by(f32::total_cmp);
    let median = heights.get(heights.len() / 2).copied();
    Info {
        schema: SCHEMA,
        file: file.to_string(),
        total_bytes: a.total_bytes,
        total_lines: a.total_lines,
        slicer: a.slicer.as_ref().map(|s| SlicerInfo {
            kind: s.kind.clone(),
            name: s.kind.as_str(),
            version: s.version.clone(),
        }),
        layer_source: a.layer_source,
        layer_count: a.layers.len(),
        reported_layer_count: a.reported_layer_count,
        first_z: a.layers.first().map(|l| l.z),
        last_z: a.layers.last().map(|l| l.z),
        layer_height: a.layer_height.or(median),
        estimated_time_s: a.estimated_time_s,
        kinematic_time_s: a.kinematic_time_s,
        filament_mm: a.filament_mm,
        reported_filament_mm: a.reported_filament_mm,
        filament_diameter_mm: a.filament_diameter_mm,
        bbox: a.bbox.map(BBoxInfo::from),
        grid: a.grid,
        objects: a
            .objects
            .iter()
            .map(|o| ObjectInfo {
                index: o.index,
                name: o.name.clone(),
                extruded_mm: o.extruded_mm,
                first_layer: o.first_layer,
                last_layer: o.last_layer,
                bbox: o.bbox.map(BBoxInfo::from),
                center: o.center,
            })
            .collect(),
        features,
        progress_source: a.progress_source,
        time_source: a.time_source,
        tool_changes: a.tool_changes,
        z_hop_mm: a.z_hop_mm,
        planned_pauses: a.planned_pauses.clone(),
        warning_count: a.warning_total(),
        warning_counts: a.warning_counts.clone(),
        warnings: a
            .warnings
            .iter()
            .take(LISTED_WARNINGS)
            .map(|w| WarningInfo { line: w.line, offset: w.offset, kind: w.kind.name(), message: w.to_string() })
            .collect(),
        layers: with_layers.then(|| {
            a.layers
                .iter()
                .map(|l| LayerInfo {
                    index: l.index,
                    z: l.z,
                    height: l.height,
                    start_offset: l.start_offset,
                    end_offset: l.end_offset,
                    start_line: l.start_line,
                    end_line: l.end_line,
                    extruded_mm: l.extruded_mm,
                    area_mm2: l.area_mm2,
                    bbox: l.bbox.map(BBoxInfo::from),
                    progress_at_start: l.progress_at_start,
                    time_at_start_s: l.time_at_start_s,
                    remaining_s_at_start: l.remaining_s_at_start,
                    slicer_layer: l.slicer_layer,
                    features: l
                        .features
                        .iter()
                        .map(|(f, e)| FeatureInfo { feature: f.as_str().to_string(), extruded_mm: *e })
                        .collect(),
                    objects: l.objects.clone(),
                    footprint_cells: l.footprint.len(),
                })
                .collect()
        }),
    }
}

/// `1h 02m 03s` style.
pub fn duration(s: f64) -> String {
    if !s.is_finite() || s < 0.0 {
        return "?".to_string();
    }
    let t = s.round() as u64;
    let (h, m, sec) = (t / 3600, (t / 60) % 60, t % 60);
    if h > 0 { format!("{h}h {m:02}m {sec:02}s") } else { format!("{m}m {sec:02}s") }
}

/// The human-readable report.
pub fn render_text(i: &Info) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "file:        {} ({} bytes, {} lines)", i.file, i.total_bytes, i.total_lines);
    let slicer = i.slicer.as_ref().map_or("unknown".to_string(), |s| match &s.version {
        Some(v) => format!("{} {v}", s.name),
        None => s.name.to_string(),
    });
    let _ = writeln!(o, "slicer:      {slicer}");
    let source = match i.layer_source {
        gcode::LayerSource::Comments => "slicer comments",
        gcode::LayerSource::Geometry => "Z moves, no layer comments",
        gcode::LayerSource::None => "nothing extruded",
    };
    let _ = write!(o, "layers:      {} (from {source})", i.layer_count);
    if let Some(r) = i.reported_layer_count.filter(|r| *r as usize != i.layer_count) {
        let _ = write!(o, ", slicer says {r}");
    }
    let _ = writeln!(o);
    if let (Some(f), Some(l)) = (i.first_z, i.last_z) {
        let _ = write!(o, "z:           {f:.3} → {l:.3} mm");
        if let Some(h) = i.layer_height {
            let _ = write!(o, ", layer height {h:.3} mm");
        }
        let _ = writeln!(o);
    }
    let est = i.estimated_time_s.map_or("unknown".to_string(), |t| format!("{} (slicer)", duration(t)));
    let _ = writeln!(o, "time:        {est}, {} at feed rates", duration(i.kinematic_time_s));
    let _ = write!(o, "filament:    {:.1} mm extruded", i.filament_mm);
    if let Some(r) = i.reported_filament_mm {
        let _ = write!(o, ", slicer says {r:.1} mm");
    }
    let _ = writeln!(o, " (⌀ {} mm)", i.filament_diameter_mm);
    if let Some(b) = &i.bbox {
        let _ = writeln!(
            o,
            "size:        {:.1} × {:.1} × {:.1} mm (x {:.1}…{:.1}, y {:.1}…{:.1})",
            b.size[0], b.size[1], b.size[2], b.min[0], b.max[0], b.min[1], b.max[1]
        );
    }
    if let Some(g) = &i.grid {
        let _ = writeln!(o, "footprint:   {} × {} cells of {:.2} mm", g.cols, g.rows, g.cell_mm);
    }
    let _ = writeln!(o, "objects:     {}", i.objects.len());
    for ob in &i.objects {
        let layers = match (ob.first_layer, ob.last_layer) {
            (Some(a), Some(b)) => format!("layers {a}–{b}"),
            _ => "not printed".to_string(),
        };
        let _ = writeln!(o, "  {:>3}  {}  ({layers}, {:.1} mm)", ob.index, ob.name, ob.extruded_mm);
    }
    if !i.features.is_empty() {
        let total: f32 = i.features.iter().map(|f| f.extruded_mm).sum();
        let parts: Vec<String> = i
            .features
            .iter()
            .map(|f| format!("{} {:.0}%", f.feature, 100.0 * f.extruded_mm / total.max(f32::MIN_POSITIVE)))
            .collect();
        let _ = writeln!(o, "features:    {}", parts.join(", "));
    }
    if !i.planned_pauses.is_empty() {
        let at: Vec<String> = i
            .planned_pauses
            .iter()
            .map(|p| format!("line {} (layer {})", p.line, p.layer.map_or("-".to_string(), |l| l.to_string())))
            .collect();
        let _ = writeln!(o, "pauses:      {} planned: {}", at.len(), at.join(", "));
    }
    let _ = writeln!(o, "warnings:    {}", i.warning_count);
    for w in i.warnings.iter().take(10) {
        let _ = writeln!(o, "  {}", w.message);
    }
    if i.warning_count > 10 {
        let _ = writeln!(o, "  … {} more (see --json)", i.warning_count - 10);
    }
    if let Some(layers) = &i.layers {
        let _ = writeln!(
            o,
            "\n{:>5} {:>8} {:>6} {:>15} {:>9} {:>9} {:>6} {:>9}  features",
            "layer", "z", "height", "lines", "filament", "area mm²", "prog", "time"
        );
        for l in layers {
            let feats: Vec<&str> = l.features.iter().map(|f| f.feature.as_str()).collect();
            let _ = writeln!(
                o,
                "{:>5} {:>8.3} {:>6.3} {:>15} {:>9.2} {:>9.1} {:>5.1}% {:>9}  {}",
                l.index,
                l.z,
                l.height,
                format!("{}–{}", l.start_line, l.end_line),
                l.extruded_mm,
                l.area_mm2,
                l.progress_at_start.unwrap_or(0.0) * 100.0,
                l.time_at_start_s.map_or("-".to_string(), duration),
                feats.join(",")
            );
        }
    }
    o
}
