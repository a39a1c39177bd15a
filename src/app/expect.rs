//! G-code awareness for the decision loop: what should be on the bed at the
//! layer the printer reports.
//!
//! - The plan itself, [`LayerPlan`], and the rule that finds the current
//!   layer's expectation live in `decision` (shared with `eval`).
//! - [`GcodeCatalog`] takes the analysis a print host's link made of the
//!   printing file (`PrinterLink::analysis`), or finds the file a `PrintJob`
//!   names on this machine and analyses it, building the plan off the runtime (`spawn_blocking`), caching by path, size and
//!   modification time. Lookups never wait: until the analysis is back (or
//!   when the file cannot be found) the decision runs on what the printer
//!   reports alone.
//!
//! Where the analysis comes from, in order: the link's own analysis when it
//! is of the job's file (print hosts: OctoPrint, Moonraker download and
//! analyse the file they print; matched by name and size, so a print of
//! another file never gets the old plan), the files this daemon streams
//! itself (host mode, registered in [`Registered`]), the job's name as an
//! absolute path, and `[printer.serial] gcode_dir` (matched by size and name,
//! as the Marlin monitor does).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::mpsc;

pub use crate::decision::LayerPlan;
use crate::domain::PrintJob;
use crate::gcode::Analysis;
use crate::printer::FileAnalysis;

/// A file's identity: same path, size and modification time mean the same bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct FileKey {
    path: PathBuf,
    size: u64,
    modified: Option<SystemTime>,
}

/// What an analysis task sends back.
#[derive(Debug)]
pub struct Analysed {
    /// The job's file name it was for.
    pub job_file: String,
    result: Result<(Origin, Arc<LayerPlan>), String>,
}

/// Where an analysis came from.
#[derive(Debug)]
enum Origin {
    /// A file on this machine.
    Local(FileKey),
    /// The printer link's analysis of the file it prints.
    Link(Arc<Analysis>),
}

#[derive(Debug)]
enum Entry {
    /// Being located or analysed.
    Pending,
    Ready(Arc<LayerPlan>),
    /// Not found or not readable; tried again after `retry_at`.
    Missing {
        retry_at: Instant,
    },
}

/// How long a file that could not be found waits before it is looked for again.
const RETRY_MISSING: Duration = Duration::from_secs(30);
/// Plans kept (a farm switches between a few files at most).
const CAPACITY: usize = 4;

/// Host-mode files by the name the printer link reports (their file name).
#[derive(Debug, Clone, Default)]
pub struct Registered(Arc<Mutex<HashMap<String, PathBuf>>>);

impl Registered {
    pub fn insert(&self, path: &Path) {
        if let Some(name) = path.file_name() {
            let mut g = self.0.lock().unwrap_or_else(|p| p.into_inner());
            g.insert(name.to_string_lossy().into_owned(), path.to_path_buf());
        }
    }

    fn get(&self, name: &str) -> Option<PathBuf> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).get(name).cloned()
    }
}

/// Finds and analyses the files jobs name; owned by the decision loop (no locks).
pub struct GcodeCatalog {
    registered: Registered,
    gcode_dir: Option<PathBuf>,
    entries: HashMap<String, Entry>,
    /// Ready plans by file identity, so a renamed job of the same bytes is not analysed twice.
    by_key: HashMap<FileKey, Arc<LayerPlan>>,
    order: Vec<String>,
    /// The link's latest analysis and, once built, its plan (one file at a time).
    linked: Option<(Arc<Analysis>, Option<Arc<LayerPlan>>)>,
    tx: mpsc::UnboundedSender<Analysed>,
}

impl GcodeCatalog {
    /// `tx` receives finished analyses; feed each to [`GcodeCatalog::complete`].
    pub fn new(registered: Registered, gcode_dir: Option<PathBuf>, tx: mpsc::UnboundedSender<Analysed>) -> Self {
        GcodeCatalog {
            registered,
            gcode_dir,
            entries: HashMap::new(),
            by_key: HashMap::new(),
            order: vec![],
            linked: None,
            tx,
        }
    }

    /// The plan for `job`: from `link` (the printer link's analysis) when it is
    /// of `job`'s file, else as [`GcodeCatalog::lookup`]. Never waits: a new
    /// analysis is turned into a plan on the blocking pool and `None` is
    /// returned meanwhile.
    pub fn plan_for(&mut self, job: &PrintJob, link: Option<&FileAnalysis>) -> Option<Arc<LayerPlan>> {
        match link.filter(|l| l.matches(job)) {
            Some(l) => self.linked_plan(l),
            None => self.lookup(job),
        }
    }

    fn linked_plan(&mut self, l: &FileAnalysis) -> Option<Arc<LayerPlan>> {
        if let Some((a, plan)) = &self.linked
            && Arc::ptr_eq(a, &l.analysis)
        {
            return plan.clone();
        }
        self.linked = Some((l.analysis.clone(), None));
        if l.analysis.layers.is_empty() {
            tracing::info!(file = %l.file, "the printer's analysis of this file found no layers: judging without a plan");
            return None;
        }
        let (tx, job_file, analysis) = (self.tx.clone(), l.file.clone(), l.analysis.clone());
        tokio::task::spawn_blocking(move || {
            let plan = Arc::new(LayerPlan::from_analysis(&analysis));
            let _ = tx.send(Analysed { job_file, result: Ok((Origin::Link(analysis), plan)) });
        });
        None
    }

    /// The plan for `job`'s file if it is ready; otherwise starts finding and
    /// analysing it (once) and returns `None`.
    pub fn lookup(&mut self, job: &PrintJob) -> Option<Arc<LayerPlan>> {
        if job.file.is_empty() {
            return None;
        }
        match self.entries.get(&job.file) {
            Some(Entry::Ready(p)) => return Some(p.clone()),
            Some(Entry::Pending) => return None,
            Some(Entry::Missing { retry_at }) if Instant::now() < *retry_at => return None,
            _ => {}
        }
        self.entries.insert(job.file.clone(), Entry::Pending);
        let candidates = self.candidates(job);
        let tx = self.tx.clone();
        let job_file = job.file.clone();
        let size_hint = job.file_size;
        let known: Vec<(FileKey, Arc<LayerPlan>)> = self.by_key.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        tokio::task::spawn_blocking(move || {
            let result = locate_and_analyse(&candidates, size_hint, &known);
            let _ = tx.send(Analysed { job_file, result });
        });
        None
    }

    /// Takes a finished analysis.
    pub fn complete(&mut self, done: Analysed) {
        match done.result {
            Ok((Origin::Link(analysis), plan)) => match &mut self.linked {
                Some((a, slot)) if Arc::ptr_eq(a, &analysis) => {
                    tracing::info!(
                        file = %done.job_file,
                        layers = plan.layer_count(),
                        "printer's g-code analysis taken: layer expectations available"
                    );
                    *slot = Some(plan);
                }
                // Another file was selected meanwhile: this plan is stale.
                _ => tracing::debug!(file = %done.job_file, "dropping the plan of a file no longer printing"),
            },
            Ok((Origin::Local(key), plan)) => {
                tracing::info!(
                    file = %done.job_file,
                    path = %key.path.display(),
                    layers = plan.layer_count(),
                    "g-code analysed: layer expectations available"
                );
                self.by_key.insert(key, plan.clone());
                self.entries.insert(done.job_file.clone(), Entry::Ready(plan));
                self.order.retain(|f| f != &done.job_file);
                self.order.push(done.job_file);
                while self.order.len() > CAPACITY {
                    let old = self.order.remove(0);
                    if let Some(Entry::Ready(p)) = self.entries.remove(&old) {
                        self.by_key.retain(|_, v| !Arc::ptr_eq(v, &p));
                    }
                }
            }
            Err(why) => {
                tracing::info!(
                    file = %done.job_file,
                    reason = %why,
                    "no g-code analysis for this print: judging with the printer's layers only"
                );
                self.entries.insert(done.job_file, Entry::Missing { retry_at: Instant::now() + RETRY_MISSING });
            }
        }
    }

    fn candidates(&self, job: &PrintJob) -> Vec<Candidate> {
        let mut out = Vec::new();
        if let Some(p) = self.registered.get(&job.file) {
            out.push(Candidate::Path(p));
        }
        let as_path = Path::new(&job.file);
        if as_path.is_absolute() {
            out.push(Candidate::Path(as_path.to_path_buf()));
        }
        if let Some(dir) = &self.gcode_dir {
            out.push(Candidate::Dir(dir.clone(), job.file.clone()));
        }
        out
    }
}

#[derive(Debug, Clone)]
enum Candidate {
    Path(PathBuf),
    /// A folder of local copies and the name the printer uses.
    Dir(PathBuf, String),
}

fn locate_and_analyse(
    candidates: &[Candidate],
    size_hint: Option<u64>,
    known: &[(FileKey, Arc<LayerPlan>)],
) -> Result<(Origin, Arc<LayerPlan>), String> {
    let path = candidates.iter().find_map(|c| locate(c, size_hint)).ok_or_else(|| {
        if candidates.is_empty() {
            "the file is not on this machine (no gcode_dir configured)".to_string()
        } else {
            "the file was not found on this machine".to_string()
        }
    })?;
    let meta = std::fs::metadata(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let key = FileKey { path: path.clone(), size: meta.len(), modified: meta.modified().ok() };
    if let Some((_, plan)) = known.iter().find(|(k, _)| *k == key) {
        return Ok((Origin::Local(key), plan.clone()));
    }
    let analysis = crate::gcode::analyze_file(&path).map_err(|e| e.to_string())?;
    if analysis.layers.is_empty() {
        return Err(format!("{}: no layers found", path.display()));
    }
    Ok((Origin::Local(key), Arc::new(LayerPlan::from_analysis(&analysis))))
}

fn locate(c: &Candidate, size_hint: Option<u64>) -> Option<PathBuf> {
    match c {
        Candidate::Path(p) => p.is_file().then(|| p.clone()),
        Candidate::Dir(dir, name) => {
            let direct = dir.join(Path::new(name).file_name()?);
            if direct.is_file() && size_hint.is_none_or(|s| std::fs::metadata(&direct).is_ok_and(|m| m.len() == s)) {
                return Some(direct);
            }
            size_hint.and_then(|s| crate::printer::marlin::job::find_local_copy(dir, name, s))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO_LAYERS: &str = "\
M83
;LAYER_CHANGE
;Z:0.2
G1 Z0.2 F600
;TYPE:External perimeter
G1 X10 Y0 E1 F1200
G1 X10 Y10 E1
;TYPE:Internal infill
G1 X0 Y10 E2
;LAYER_CHANGE
;Z:0.4
G1 Z0.4
;TYPE:Support material
G1 X0 Y0 E1
;TYPE:External perimeter
G1 X10 Y0 E1
";

    #[tokio::test]
    async fn catalog_finds_registered_and_gcode_dir_files_and_reports_missing_ones() {
        let dir = tempfile::tempdir().unwrap();
        let streamed = dir.path().join("streamed.gcode");
        std::fs::write(&streamed, TWO_LAYERS).unwrap();
        let sd = dir.path().join("sd");
        std::fs::create_dir(&sd).unwrap();
        std::fs::write(sd.join("cube_pla.gcode"), TWO_LAYERS).unwrap();
        let reg = Registered::default();
        reg.insert(&streamed);
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut cat = GcodeCatalog::new(reg, Some(sd), tx);
        let job = |file: &str, size: Option<u64>| PrintJob { file: file.into(), file_size: size, ..Default::default() };
        let size = TWO_LAYERS.len() as u64;
        for j in [job("streamed.gcode", None), job("CUBE_P~1.GCO", Some(size)), job("nowhere.gcode", None)] {
            assert!(cat.lookup(&j).is_none(), "nothing is ready before the analysis");
            assert!(cat.lookup(&j).is_none(), "and it is started once");
            let done = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.unwrap().unwrap();
            cat.complete(done);
        }
        assert_eq!(cat.lookup(&job("streamed.gcode", None)).map(|p| p.layer_count()), Some(2));
        assert_eq!(cat.lookup(&job("CUBE_P~1.GCO", Some(size))).map(|p| p.layer_count()), Some(2));
        assert!(cat.lookup(&job("nowhere.gcode", None)).is_none());
        assert!(rx.try_recv().is_err(), "a missing file is not looked for again at once");
    }

    #[tokio::test]
    async fn catalog_takes_the_links_analysis_of_the_printing_file_only() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut cat = GcodeCatalog::new(Registered::default(), None, tx);
        let size = TWO_LAYERS.len() as u64;
        let linked = |file: &str| FileAnalysis {
            file: file.into(),
            size: Some(size),
            analysis: Arc::new(crate::gcode::analyze(TWO_LAYERS.as_bytes())),
        };
        let job = |file: &str, size: u64| PrintJob { file: file.into(), file_size: Some(size), ..Default::default() };
        let a = linked("a.gcode");
        assert!(cat.plan_for(&job("a.gcode", size), Some(&a)).is_none(), "the plan is built off the runtime");
        assert!(cat.plan_for(&job("a.gcode", size), Some(&a)).is_none(), "once");
        let done = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.unwrap().unwrap();
        cat.complete(done);
        let plan = cat.plan_for(&job("a.gcode", size), Some(&a)).expect("the link's plan");
        assert_eq!(*plan, LayerPlan::from_analysis(&a.analysis), "the same plan as from the file itself");
        assert!(rx.try_recv().is_err(), "no local lookup while the link's analysis fits");

        // Same name, other bytes (re-uploaded): not this analysis; no local copy either.
        assert!(cat.plan_for(&job("a.gcode", size + 1), Some(&a)).is_none());
        let local = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.unwrap().unwrap();
        assert!(local.result.is_err(), "looked for locally and not found: {local:?}");
        cat.complete(local);

        // Another file is printing; its analysis arrives while the old one's plan is still being built.
        let b = linked("b.gcode");
        let c = linked("c.gcode");
        assert!(cat.plan_for(&job("b.gcode", size), Some(&b)).is_none());
        assert!(cat.plan_for(&job("c.gcode", size), Some(&c)).is_none());
        for _ in 0..2 {
            let done = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.unwrap().unwrap();
            cat.complete(done);
        }
        assert!(cat.plan_for(&job("b.gcode", size), Some(&c)).is_none(), "c's analysis is not b's plan");
        assert!(rx.recv().await.unwrap().result.is_err(), "b looked for locally");
        assert!(cat.plan_for(&job("c.gcode", size), Some(&c)).is_some());
    }
}
