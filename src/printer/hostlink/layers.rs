//! Layers for hosts that report only a byte position: the selected G-code file
//! is downloaded once and streamed through `gcode::Analyzer` on the blocking
//! pool as it arrives (memory grows with layers, not file size), then cached
//! by name + size + date, so `file_position` maps to layer, Z and slicer
//! feature for every status update that follows. The current file's analysis
//! is also published ([`publish_analysis`]) for `PrinterLink::analysis`.
//!
//! The cache is owned by one host loop (no locks). A failed download or
//! analysis is remembered and retried after `RETRY_AFTER`, doubling up to
//! `RETRY_MAX`, so a file the host will not serve costs a request every few
//! minutes, not one per status, while a blip is retried within seconds.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::gcode;
use crate::printer::FileAnalysis;

/// How long a failed download/analysis waits before the first retry; each
/// further failure of the same file doubles it, up to `RETRY_MAX`.
pub(crate) const RETRY_AFTER: Duration = Duration::from_secs(5);
pub(crate) const RETRY_MAX: Duration = Duration::from_secs(300);
/// Analyses kept (a farm host switches between a few files at most).
const CAPACITY: usize = 4;

/// Identity of a file on a host: same path, size and modification time are
/// taken to mean the same bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct FileKey {
    pub path: String,
    pub size: Option<u64>,
    /// Seconds since the epoch, as the host reports it.
    pub modified: Option<i64>,
}

/// What the file says about one byte position.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FilePoint {
    /// 0-based layer index.
    pub layer: u32,
    /// The layer's Z in mm.
    pub z: f32,
    /// The slicer's feature at that position (`outer wall`, `infill`…).
    pub feature: Option<String>,
}

/// A file's layer table, ready for position lookups.
#[derive(Debug)]
pub(crate) struct LayerMap {
    analysis: Arc<gcode::Analysis>,
}

impl LayerMap {
    /// Analyses a whole file in memory (CPU-bound: keep it off the runtime).
    #[cfg(test)]
    pub(crate) fn from_bytes(bytes: &[u8]) -> LayerMap {
        LayerMap { analysis: Arc::new(gcode::analyze(bytes)) }
    }

    /// Streams a download through the analyzer on the blocking pool, giving
    /// up past `limit_bytes`.
    pub(crate) async fn from_download(mut resp: reqwest::Response, limit_bytes: u64) -> Result<LayerMap, String> {
        let (tx, mut rx) = mpsc::channel::<bytes::Bytes>(8);
        let worker = tokio::task::spawn_blocking(move || {
            let mut analyzer = gcode::Analyzer::new();
            while let Some(chunk) = rx.blocking_recv() {
                analyzer.feed(&chunk);
            }
            analyzer.finish()
        });
        let mut total = 0u64;
        let streamed = async {
            while let Some(chunk) =
                resp.chunk().await.map_err(|e| format!("download failed: {}", super::http::innermost(&e)))?
            {
                total += chunk.len() as u64;
                if total > limit_bytes {
                    return Err(format!("file is larger than the {} MiB analysis limit", limit_bytes >> 20));
                }
                tx.send(chunk).await.map_err(|_| "analysis stopped early".to_string())?;
            }
            Ok(())
        }
        .await;
        drop(tx);
        let analysis = worker.await.map_err(|e| format!("analysis task failed: {e}"))?;
        streamed?;
        Ok(LayerMap { analysis: Arc::new(analysis) })
    }

    pub(crate) fn layer_count(&self) -> u32 {
        u32::try_from(self.analysis.layers.len()).unwrap_or(u32::MAX)
    }

    /// The layer being printed when the host has read up to `pos`. Before the
    /// first layer (start G-code) there is none; in the end G-code it is the
    /// last layer.
    pub(crate) fn at_offset(&self, pos: u64) -> Option<FilePoint> {
        let layer = self.analysis.layer_at_or_before_offset(pos)?;
        let feature = self.analysis.feature_at_offset(pos).map(|f| f.to_string());
        Some(FilePoint { layer: layer.index, z: layer.z, feature })
    }
}

/// Publishes the analysis of the file being followed (`None`: no file, or not
/// analysed yet) on a link's `analysis` watch; readers wake only on a change.
pub(crate) fn publish_analysis(tx: &watch::Sender<Option<FileAnalysis>>, file: Option<(&str, Option<u64>, &LayerMap)>) {
    let next =
        file.map(|(name, size, map)| FileAnalysis { file: name.to_string(), size, analysis: map.analysis.clone() });
    FileAnalysis::publish(tx, next);
}

/// One finished (or failed) analysis, sent back to the host loop.
#[derive(Debug)]
pub(crate) struct Analyzed {
    pub key: FileKey,
    pub result: Result<Arc<LayerMap>, String>,
}

#[derive(Debug)]
enum Entry {
    /// In flight; `failures` counts earlier failed attempts.
    Pending {
        failures: u32,
    },
    Ready(Arc<LayerMap>),
    Failed {
        at: Instant,
        failures: u32,
    },
}

fn retry_delay(failures: u32) -> Duration {
    RETRY_AFTER.saturating_mul(1 << failures.saturating_sub(1).min(10)).min(RETRY_MAX)
}

/// What the cache knows about a file.
#[derive(Debug)]
pub(crate) enum Lookup {
    /// Analysed: `get` returns the map.
    Ready,
    /// An analysis is running, or failed recently.
    Waiting,
    /// Unknown: the caller should start an analysis (the entry is now pending).
    Start,
}

/// The last few analyses of one host, by `FileKey`.
#[derive(Debug, Default)]
pub(crate) struct LayerCache {
    entries: VecDeque<(FileKey, Entry)>,
}

impl LayerCache {
    pub(crate) fn lookup(&mut self, key: &FileKey, now: Instant) -> Lookup {
        if let Some(i) = self.entries.iter().position(|(k, _)| k == key) {
            match &self.entries[i].1 {
                Entry::Ready(_) => return Lookup::Ready,
                Entry::Pending { .. } => return Lookup::Waiting,
                Entry::Failed { at, failures } if now.duration_since(*at) < retry_delay(*failures) => {
                    return Lookup::Waiting;
                }
                Entry::Failed { failures, .. } => {
                    self.entries[i].1 = Entry::Pending { failures: *failures };
                    return Lookup::Start;
                }
            }
        }
        if self.entries.len() >= CAPACITY {
            // Evict the oldest entry that is not in flight.
            if let Some(i) = self.entries.iter().position(|(_, e)| !matches!(e, Entry::Pending { .. })) {
                self.entries.remove(i);
            }
        }
        self.entries.push_back((key.clone(), Entry::Pending { failures: 0 }));
        Lookup::Start
    }

    /// The map for `key` if it is ready (no side effects).
    pub(crate) fn get(&self, key: &FileKey) -> Option<Arc<LayerMap>> {
        self.entries.iter().find(|(k, _)| k == key).and_then(|(_, e)| match e {
            Entry::Ready(m) => Some(m.clone()),
            _ => None,
        })
    }

    pub(crate) fn finish(&mut self, done: &Analyzed, now: Instant) {
        let slot = self.entries.iter_mut().find(|(k, _)| *k == done.key);
        let earlier = match &slot {
            Some((_, Entry::Pending { failures })) => *failures,
            _ => 0,
        };
        let entry = match &done.result {
            Ok(m) => Entry::Ready(m.clone()),
            Err(_) => Entry::Failed { at: now, failures: earlier + 1 },
        };
        match slot {
            Some(slot) => slot.1 = entry,
            None => self.entries.push_back((done.key.clone(), entry)),
        }
    }
}

/// Opens the download with `open`, streams it through the analyzer, reports
/// to `done`. Gives up quietly when `cancel` fires.
pub(crate) fn spawn_analysis<F>(
    key: FileKey,
    open: F,
    limit_bytes: u64,
    done: mpsc::Sender<Analyzed>,
    cancel: CancellationToken,
) where
    F: Future<Output = Result<reqwest::Response, String>> + Send + 'static,
{
    tokio::spawn(async move {
        let work = async {
            let started = Instant::now();
            let resp = open.await?;
            let map = LayerMap::from_download(resp, limit_bytes).await?;
            tracing::info!(
                file = %key.path,
                layers = map.layer_count(),
                ms = started.elapsed().as_millis() as u64,
                "analysed g-code file"
            );
            Ok(Arc::new(map))
        };
        let result = tokio::select! {
            _ = cancel.cancelled() => return,
            r = work => r,
        };
        if let Err(e) = &result {
            tracing::warn!(file = %key.path, error = %e, "cannot analyse the printing file; layers unknown for now");
        }
        let _ = done.send(Analyzed { key, result }).await;
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(p: &str) -> FileKey {
        FileKey { path: p.into(), size: Some(1), modified: Some(2) }
    }

    const GCODE: &str = "; start\nG28\nG1 Z5\n;LAYER_CHANGE\n;Z:0.3\nG1 Z0.3\n;TYPE:External perimeter\nG1 X10 E1\n\
;LAYER_CHANGE\n;Z:0.6\nG1 Z0.6\n;TYPE:Internal infill\nG1 X20 E2\n; end\nM84\n";

    #[test]
    fn positions_map_to_layers_and_past_the_end_to_the_last() {
        let m = LayerMap::from_bytes(GCODE.as_bytes());
        assert_eq!(m.layer_count(), 2);
        assert_eq!(m.at_offset(3), None, "start g-code is before the first layer");
        let second = GCODE.find("G1 X20").unwrap() as u64;
        let p = m.at_offset(second).unwrap();
        assert_eq!((p.layer, p.z), (1, 0.6));
        let end = m.at_offset(GCODE.len() as u64).unwrap();
        assert_eq!(end.layer, 1);
    }

    #[test]
    fn cache_starts_once_waits_and_retries_failures_later() {
        let mut c = LayerCache::default();
        let t0 = Instant::now();
        assert!(matches!(c.lookup(&key("a"), t0), Lookup::Start));
        assert!(matches!(c.lookup(&key("a"), t0), Lookup::Waiting));
        c.finish(&Analyzed { key: key("a"), result: Err("http 404".into()) }, t0);
        assert!(matches!(c.lookup(&key("a"), t0 + Duration::from_secs(1)), Lookup::Waiting));
        assert!(matches!(c.lookup(&key("a"), t0 + RETRY_AFTER), Lookup::Start));
        c.finish(&Analyzed { key: key("a"), result: Err("http 404".into()) }, t0);
        assert!(matches!(c.lookup(&key("a"), t0 + RETRY_AFTER), Lookup::Waiting), "second failure waits longer");
        assert!(matches!(c.lookup(&key("a"), t0 + 2 * RETRY_AFTER), Lookup::Start));
        let map = Arc::new(LayerMap::from_bytes(GCODE.as_bytes()));
        c.finish(&Analyzed { key: key("a"), result: Ok(map) }, t0);
        assert!(matches!(c.lookup(&key("a"), t0), Lookup::Ready));
        assert!(c.get(&key("a")).is_some());
        assert!(c.get(&key("b")).is_none());
    }

    #[test]
    fn the_published_analysis_follows_the_file_and_wakes_readers_only_on_a_change() {
        let (tx, mut rx) = watch::channel(None);
        let a = LayerMap::from_bytes(GCODE.as_bytes());
        let b = LayerMap::from_bytes(GCODE.as_bytes());
        publish_analysis(&tx, None);
        assert!(!rx.has_changed().unwrap(), "none to none is no change");
        publish_analysis(&tx, Some(("a.gcode", Some(9), &a)));
        let got = rx.borrow_and_update().clone().unwrap();
        assert_eq!((got.file.as_str(), got.size, got.analysis.layers.len()), ("a.gcode", Some(9), 2));
        publish_analysis(&tx, Some(("a.gcode", Some(9), &a)));
        assert!(!rx.has_changed().unwrap(), "the same analysis again is no change");
        publish_analysis(&tx, Some(("a.gcode", Some(9), &b)));
        assert!(rx.has_changed().unwrap(), "a re-analysis of the same name is a change");
        assert!(Arc::ptr_eq(&rx.borrow_and_update().as_ref().unwrap().analysis, &b.analysis));
        publish_analysis(&tx, None);
        assert!(rx.borrow_and_update().is_none(), "another file drops it");
    }

    #[test]
    fn cache_keeps_a_few_files() {
        let mut c = LayerCache::default();
        let t0 = Instant::now();
        for i in 0..10 {
            let k = key(&format!("f{i}"));
            assert!(matches!(c.lookup(&k, t0), Lookup::Start));
            c.finish(&Analyzed { key: k, result: Err("x".into()) }, t0);
        }
        assert!(c.entries.len() <= CAPACITY);
    }
}
