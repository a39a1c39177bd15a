//! The analyzer: drives parser → machine state → layers, features, objects,
//! footprints, time and progress, one line at a time, and assembles the
//! final [`Analysis`]. Streaming: memory grows with layers and objects, not
//! with file size (warnings are capped, feature spans are per change).

use std::collections::{BTreeMap, HashMap};

mod finish;

use super::comments::{Note, classify, detect_slicer};
use super::feature::Feature;
use super::footprint::Raster;
use super::layers::{Clock, Event, LayerBuilder};
use super::lexer::{DEFAULT_MAX_LINE, LineSplitter, Piece, RawLine, SliceLines};
use super::machine::{Machine, Move};
use super::model::{Analysis, PauseKind, PlannedPause, Slicer, Warning, WarningKind};
use super::objects::Objects;

/// Feed rates below this (mm/min, 0.1 mm/s) are warned about: no print moves that slowly.
const MIN_PLAUSIBLE_FEED: f64 = 6.0;
use super::parser::{Command, Line, Words, parse_line, parse_line_into};

/// Warnings kept with their line; the rest are only counted.
pub const MAX_WARNINGS: usize = 200;
/// Distinct feature names kept; the rest share one `other` entry.
const MAX_FEATURES: usize = 256;
/// Header lines searched for the generator comment.
const HEADER_LINES: u64 = 400;
const DEFAULT_FILAMENT_DIAMETER: f32 = 1.75;
/// Lifts above this are not Z-hops (parking, sequential printing).
const MAX_Z_HOP_MM: f64 = 5.0;

#[derive(Debug, Default)]
struct Warnings {
    list: Vec<Warning>,
    counts: BTreeMap<&'static str, u64>,
}

impl Warnings {
    fn push(&mut self, line: u64, offset: u64, kind: WarningKind) {
        *self.counts.entry(kind.name()).or_insert(0) += 1;
        if self.list.len() < MAX_WARNINGS {
            tracing::debug!(line, offset, warning = kind.name(), "g-code warning");
            self.list.push(Warning { line, offset, kind });
        }
    }
}

#[derive(Debug, Default)]
struct Features {
    names: Vec<Feature>,
    by_name: HashMap<Feature, u16>,
    current: Option<u16>,
    spans: Vec<(u64, u16)>,
}

impl Features {
    fn set(&mut self, offset: u64, name: &str) {
        let mut f = Feature::from_slicer_name(name);
        if self.names.len() >= MAX_FEATURES && !self.by_name.contains_key(&f) {
            f = Feature::Other("other".to_string());
        }
        let id = match self.by_name.get(&f) {
            Some(&id) => id,
            None => {
                let id = self.names.len() as u16;
                self.names.push(f.clone());
                self.by_name.insert(f, id);
                id
            }
        };
        if self.current != Some(id) {
            self.current = Some(id);
            self.spans.push((offset, id));
        }
    }
}

#[derive(Debug, Default)]
struct Meta {
    slicer: Option<Slicer>,
    estimated_time: Option<f64>,
    reported_filament: Option<f64>,
    nominal_height: Option<f32>,
    layer_count: Option<u32>,
    filament_diameter: Option<f32>,
    first_m73_remaining: Option<f64>,
}

/// Streaming analyzer: `feed` chunks in order, then `finish`.
#[derive(Debug, Default)]
pub struct Analyzer {
    splitter: LineSplitter,
    st: State,
}

#[derive(Debug, Default)]
struct State {
    machine: Machine,
    layers: LayerBuilder,
    raster: Raster,
    objects: Objects,
    features: Features,
    warnings: Warnings,
    meta: Meta,
    m73_percent: Option<f32>,
    m73_remaining_s: Option<f64>,
    any_m73: bool,
    elapsed: Option<f64>,
    any_elapsed: bool,
    kinematic_s: f64,
    filament: f64,
    /// Filament extruded before the first layer's first deposit (purge lines).
    filament_before_layers: f64,
    last_elapsed: Option<f64>,
    /// Z of the last deposit, and the highest Z travelled to since (Z-hop detection).
    last_deposit_z: Option<f64>,
    peak_z_since_deposit: f64,
    /// Z-hops seen (lift after a deposit, back to the same Z for the next one):
    /// height in 10 µm steps → count (at most 64 distinct heights).
    z_hops: BTreeMap<u32, u32>,
    tool: Option<u16>,
    tool_changes: u32,
    pauses: Vec<PlannedPause>,
    objects_warned: bool,
}

impl Analyzer {
    pub fn new() -> Self {
        Analyzer { splitter: LineSplitter::new(DEFAULT_MAX_LINE), st: State::default() }
    }

    /// Reads the next piece of the file. Lines inside the piece are parsed in
    /// place; only a line cut by the piece's edges is copied (once).
    pub fn feed(&mut self, chunk: &[u8]) {
        let st = &mut self.st;
        let mut line = Line::empty();
        self.splitter.feed_regions(chunk, &mut |piece| match piece {
            Piece::Line(raw) => {
                st.line(&parse_line(raw));
                0
            }
            Piece::Region(data, base, first) => {
                let mut n = 0;
                for raw in SliceLines::at(data, DEFAULT_MAX_LINE, base, first) {
                    parse_line_into(raw, &mut line);
                    st.line(&line);
                    n += 1;
                }
                n
            }
        });
    }

    /// Ends the input and assembles the result.
    pub fn finish(mut self) -> Analysis {
        let st = &mut self.st;
        self.splitter.finish(&mut |raw| st.line(&parse_line(raw)));
        if self.splitter.unterminated_last_line() {
            let lines = self.splitter.lines_seen();
            self.st.warnings.push(lines, self.splitter.bytes_seen(), WarningKind::NoFinalNewline);
        }
        self.st.finish(self.splitter.bytes_seen(), self.splitter.lines_seen())
    }

    /// Analyzes a complete buffer (same result as feeding it in pieces).
    pub fn analyze_slice(data: &[u8]) -> Analysis {
        let mut st = State::default();
        let mut last: Option<RawLine<'_>> = None;
        let mut line = Line::empty();
        for raw in SliceLines::new(data, DEFAULT_MAX_LINE) {
            parse_line_into(raw, &mut line);
            st.line(&line);
            last = Some(raw);
        }
        let lines = last.map_or(0, |l| l.number);
        if let Some(l) = last
            && !matches!(data.last(), Some(b'\n' | b'\r'))
        {
            st.warnings.push(l.number, data.len() as u64, WarningKind::NoFinalNewline);
        }
        st.finish(data.len() as u64, lines)
    }
}

impl State {
    fn line(&mut self, l: &Line<'_>) {
        if l.issues.any() {
            self.line_issues(l);
            if l.issues.binary {
                return;
            }
        }
        if let Some(c) = l.comment {
            self.comment(l, c);
        }
        match l.command {
            Some(Command::Code { letter, number, sub }) => self.code(l, letter, number, sub),
            Some(Command::Extended(name)) if name.len() > 15 && name[..15].eq_ignore_ascii_case(b"EXCLUDE_OBJECT_") => {
                self.objects.klipper(name, l.code);
                self.check_objects(l);
            }
            Some(Command::Extended(name)) if name.eq_ignore_ascii_case(b"PAUSE") => {
                self.pause(l, PauseKind::Pause);
            }
            Some(Command::Extended(_)) | None => {}
        }
    }

    #[cold]
    fn line_issues(&mut self, l: &Line<'_>) {
        let i = l.issues;
        let w = &mut self.warnings;
        if l.number == 1 && l.raw.starts_with(b"GCDE") {
            w.push(l.number, l.offset, WarningKind::BinaryGcodeFormat);
        }
        if i.binary {
            // The line is ignored: what else is wrong with it does not matter.
            w.push(l.number, l.offset, WarningKind::Binary);
            if i.overlong {
                w.push(l.number, l.offset, WarningKind::Overlong { len: l.end - l.offset });
            }
            return;
        }
        if i.junk {
            w.push(l.number, l.offset, WarningKind::Junk);
        }
        if i.overlong {
            w.push(l.number, l.offset, WarningKind::Overlong { len: l.end - l.offset });
        }
        if i.bad_number {
            w.push(l.number, l.offset, WarningKind::BadNumber);
        }
        if i.duplicate_word {
            w.push(l.number, l.offset, WarningKind::DuplicateWord);
        }
        if i.checksum_mismatch {
            w.push(l.number, l.offset, WarningKind::ChecksumMismatch);
        }
    }

    fn check_objects(&mut self, l: &Line<'_>) {
        if self.objects.overflowed && !self.objects_warned {
            self.objects_warned = true;
            self.warnings.push(l.number, l.offset, WarningKind::TooManyObjects);
        }
    }

    fn comment(&mut self, l: &Line<'_>, c: &[u8]) {
        if self.meta.slicer.is_none() && l.number <= HEADER_LINES {
            self.meta.slicer = detect_slicer(c);
        }
        match classify(c) {
            Note::Nothing => {}
            Note::LayerChange { slicer_layer, z, height } => {
                let event = self.layers.marker(l.offset, l.number, slicer_layer, z, height);
                self.layer_event(event);
            }
            Note::LayerZ(z) => self.layers.marker_z(z),
            Note::LayerHeight(h) => self.layers.marker_height(h),
            Note::Feature(name) => self.features.set(l.offset, name),
            Note::ObjectStart(r) => {
                self.objects.comment_start(r);
                self.check_objects(l);
            }
            Note::ObjectStop(r) => self.objects.comment_stop(r),
            Note::Elapsed(t) if t.is_finite() && t >= 0.0 => {
                self.elapsed = Some(t);
                self.any_elapsed = true;
                self.last_elapsed = Some(self.last_elapsed.map_or(t, |m| m.max(t)));
            }
            Note::Elapsed(_) => {}
            Note::EstimatedTime(t) => {
                if t.is_finite() && t >= 0.0 {
                    self.meta.estimated_time.get_or_insert(t);
                }
            }
            Note::FilamentMm(f) => {
                // Zero is CuraEngine's placeholder (`;Filament used: 0m`) when run without its front end.
                if f.is_finite() && f > 0.0 {
                    self.meta.reported_filament.get_or_insert(f);
                }
            }
            Note::NominalLayerHeight(h) => {
                if h.is_finite() && h > 0.0 && self.meta.nominal_height.is_none() {
                    self.meta.nominal_height = Some(h);
                    self.layers.nominal_height = Some(f64::from(h));
                }
            }
            Note::LayerCount(n) => {
                self.meta.layer_count.get_or_insert(n);
            }
            Note::FilamentDiameter(d) => {
                if d.is_finite() && d > 0.0 && d < 10.0 {
                    self.meta.filament_diameter.get_or_insert(d);
                }
            }
        }
    }

    fn layer_event(&mut self, event: Event) {
        match event {
            Event::Nothing => {}
            Event::Closed => {
                self.raster.close_layer();
            }
            Event::Restarted | Event::PreludeEnded => {
                self.raster.reset();
                self.objects.reset_layers();
            }
        }
    }

    fn code(&mut self, l: &Line<'_>, letter: u8, number: u16, sub: Option<u8>) {
        let w = &l.words;
        match (letter, number, sub) {
            (b'G', 0 | 1, None) => {
                self.check_feed(l);
                let r = self.machine.linear(w);
                self.moved(l, r);
            }
            (b'G', 2 | 3, None) => {
                self.check_feed(l);
                let r = self.machine.arc(w, number == 3);
                self.moved(l, r);
            }
            (b'G', 4, None) => self.kinematic_s += Machine::dwell_s(w),
            (b'G', 10, None) if !w.has(b'P') && !w.has(b'L') => self.machine.fw_retracted = true,
            (b'G', 11, None) => self.machine.fw_retracted = false,
            (b'G', 20, None) => self.machine.set_inches(true),
            (b'G', 21, None) => self.machine.set_inches(false),
            (b'G', 28, _) => {
                let z = self.machine.pos[2];
                self.machine.home(w);
                if self.machine.pos[2] != z {
                    self.layers.z_move(l.offset, l.number);
                }
            }
            (b'G', 90, None) => self.machine.set_absolute(true),
            (b'G', 91, None) => self.machine.set_absolute(false),
            (b'G', 92, None) => self.machine.set_position(w),
            (b'M', 82, None) => self.machine.set_absolute_e(true),
            (b'M', 83, None) => self.machine.set_absolute_e(false),
            (b'M', 73, None) => self.m73(w),
            (b'M', 600, None) => self.pause(l, PauseKind::FilamentChange),
            (b'M', 0 | 1 | 25 | 601, None) => self.pause(l, PauseKind::Pause),
            (b'M', 486, None) => {
                self.objects.m486(w.get(b'S'), w.get(b'T'), l.code);
                self.check_objects(l);
            }
            (b'T', n, None) => {
                if self.tool.is_some_and(|t| t != n) {
                    self.tool_changes += 1;
                }
                self.tool = Some(n);
            }
            _ => {}
        }
    }

    /// A feed rate no printer moves at (below `MIN_PLAUSIBLE_FEED` mm/min) makes the
    /// time at feed rates meaningless: said once per value, with its line.
    fn check_feed(&mut self, l: &Line<'_>) {
        if let Some(f) = l.words.get(b'F').filter(|f| f.is_finite() && *f > 0.0 && *f < MIN_PLAUSIBLE_FEED) {
            self.warnings.push(l.number, l.offset, WarningKind::SlowFeed { feed_mm_min: f });
        }
    }

    /// A planned pause, unless its line also holds junk bytes: in a file that is
    /// not G-code (a binary file) `M0`/`M1` turn up by chance.
    fn pause(&mut self, l: &Line<'_>, kind: PauseKind) {
        if l.issues.junk {
            return;
        }
        if self.pauses.len() < 1000 {
            self.pauses.push(PlannedPause { kind, line: l.number, offset: l.offset, layer: None });
        }
    }

    fn m73(&mut self, w: &Words) {
        if let Some(p) = w.get(b'P').filter(|p| p.is_finite()) {
            self.m73_percent = Some(p.clamp(0.0, 100.0) as f32);
            self.any_m73 = true;
        }
        if let Some(r) = w.get(b'R').filter(|r| r.is_finite() && *r >= 0.0) {
            self.meta.first_m73_remaining.get_or_insert(r * 60.0);
            self.m73_remaining_s = Some(r * 60.0);
        }
    }

    fn moved(&mut self, l: &Line<'_>, r: Result<Move, super::machine::MoveError>) {
        let Ok(mv) = r else {
            self.warnings.push(l.number, l.offset, WarningKind::CoordinateOutOfRange);
            return;
        };
        let before = self.kinematic_s;
        self.kinematic_s += mv.duration_s;
        let de = mv.de();
        self.filament += de;
        if de > 1e-9 && mv.xy_len > 1e-9 {
            self.deposit(l, &mv, de, before);
        } else if mv.dz().abs() > 1e-9 {
            self.layers.z_move(l.offset, l.number);
            self.peak_z_since_deposit = self.peak_z_since_deposit.max(mv.to[2]);
        }
    }

    fn deposit(&mut self, l: &Line<'_>, mv: &Move, de: f64, time_before: f64) {
        let clock = Clock {
            m73_percent: self.m73_percent,
            m73_remaining_s: self.m73_remaining_s,
            kinematic_s: time_before,
            elapsed_s: self.elapsed,
        };
        if let Some(z0) = self.last_deposit_z
            && (mv.to[2] - z0).abs() < 1e-4
        {
            let hop = self.peak_z_since_deposit - z0;
            if hop > 1e-3 && hop <= MAX_Z_HOP_MM {
                let key = (hop * 100.0).round() as u32;
                if self.z_hops.len() < 64 || self.z_hops.contains_key(&key) {
                    *self.z_hops.entry(key).or_insert(0) += 1;
                }
            }
        }
        self.last_deposit_z = Some(mv.to[2]);
        self.peak_z_since_deposit = mv.to[2];
        let (event, first) = self.layers.deposit((l.offset, l.number, l.end), mv.from[2], mv.to[2], clock);
        self.layer_event(event);
        if first && self.layers.ordinal() == 0 {
            self.filament_before_layers = self.filament - de;
        }
        let ordinal = self.layers.open.is_some().then(|| self.layers.ordinal());
        let object = self.objects.current;
        let feature = self.features.current;
        let emit = |a: [f64; 3], b: [f64; 3], e: f64, st: &mut State| {
            let (a32, b32) = (a.map(|v| v as f32), b.map(|v| v as f32));
            st.raster.deposit([a[0], a[1]], [b[0], b[1]], e, object);
            st.layers.account(e, feature, object.map(|o| o as u32), a32, b32);
            st.objects.deposit(e, ordinal, a32, b32);
        };
        if mv.arc.is_none() {
            emit([mv.from[0], mv.from[1], mv.from[2]], [mv.to[0], mv.to[1], mv.to[2]], de, self);
        } else {
            let mut pts: Vec<[f64; 3]> = Vec::with_capacity(16);
            mv.path(|p| pts.push(p));
            let n = pts.len().saturating_sub(1).max(1) as f64;
            for w in pts.windows(2) {
                emit(w[0], w[1], de / n, self);
            }
        }
    }
}
