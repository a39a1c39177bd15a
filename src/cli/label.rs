//! `layerwatch label <SEQUENCE> [--onset T] [--kind K] [--note TEXT] [--clear] [--show]`:
//! sets or shows the labels of a recorded sequence (`[label]` in its
//! `manifest.toml`). An onset is `MM:SS`, `H:MM:SS`, milliseconds, `754s`,
//! `12.5m` or `frame:N`, counted from the sequence's start; setting one marks
//! the sequence as a failure. The manifest is rewritten atomically.
//!
//! Exit codes: 0 done, 2 bad sequence or bad value.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;

use super::Global;
use crate::domain::Timestamp;
use crate::eval::dataset::manifest::{Manifest, format_ms, parse_onset};
use crate::eval::dataset::{Sequence, SequenceLabel};
use crate::eval::taxonomy::LabelMap;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The sequence directory (holds manifest.toml).
    pub sequence: PathBuf,
    /// When the failure became visible: 12:34, 1:02:03, 754000 (ms), 754s, frame:42.
    #[arg(long)]
    pub onset: Option<String>,
    /// Failure kind: spaghetti, stringing, surface, other (or a dataset label such as blobs).
    #[arg(long)]
    pub kind: Option<String>,
    /// Free-text notes.
    #[arg(long)]
    pub note: Option<String>,
    /// Mark as a normal print (no failure): removes onset and kind.
    #[arg(long, conflicts_with_all = ["onset", "kind"])]
    pub normal: bool,
    /// Mark as a failure without an onset (detection is then counted without time to detection).
    #[arg(long, conflicts_with = "normal")]
    pub failure: bool,
    /// Remove every label.
    #[arg(long, conflicts_with_all = ["onset", "kind", "note", "normal", "failure"])]
    pub clear: bool,
    /// Print the labels (also after a change).
    #[arg(long)]
    pub show: bool,
}

pub async fn run(a: Args, g: &Global) -> anyhow::Result<ExitCode> {
    let _ = g.load_config()?;
    let seq =
        Sequence::load(&a.sequence).with_context(|| format!("{} is not a usable sequence", a.sequence.display()))?;
    let mut m: Manifest = seq.manifest.clone();
    let frames_ms: Vec<i64> = seq.frames.iter().map(|f| f.timestamp_ms).collect();
    let t0 = seq.t0();
    let changing = a.onset.is_some() || a.kind.is_some() || a.note.is_some() || a.normal || a.failure || a.clear;
    if a.clear {
        m.label = SequenceLabel::default();
    }
    if a.normal {
        m.label = SequenceLabel { notes: m.label.notes.clone(), ..SequenceLabel::default() };
    }
    if a.failure {
        m.label.failure = true;
    }
    if let Some(o) = &a.onset {
        let ms = parse_onset(o, &frames_ms, t0).map_err(|e| anyhow::anyhow!("--onset {e}"))?;
        let last = frames_ms.last().copied().unwrap_or(t0) - t0;
        anyhow::ensure!(ms <= last, "--onset {o}: {} is after the last frame ({})", format_ms(ms), format_ms(last));
        m.label.failure = true;
        m.label.onset_ms = Some(ms);
    }
    if let Some(k) = &a.kind {
        let map = LabelMap::default();
        let kinds = ["spaghetti", "stringing", "surface", "other"];
        let n = crate::eval::taxonomy::normalise(k);
        anyhow::ensure!(
            kinds.contains(&n.as_str()) || map.class_of(&n).is_some_and(|c| !map.is_normal_class(c)),
            "--kind {k:?}: expected one of {} or a failure label ({})",
            kinds.join(", "),
            map.known_labels().join(", ")
        );
        m.label.failure = true;
        m.label.kind = Some(n);
    }
    if let Some(n) = &a.note {
        m.label.notes = n.clone();
    }
    if changing {
        m.write(&a.sequence)?;
        println!("labels of {} updated", a.sequence.display());
    }
    if a.show || !changing {
        print!("{}", show(&m, &frames_ms, t0));
    }
    Ok(ExitCode::SUCCESS)
}

/// The labels in words.
fn show(m: &Manifest, frames_ms: &[i64], t0: i64) -> String {
    let l = &m.label;
    let mut s =
        format!("sequence {:?}: {} frames{}\n", m.name, frames_ms.len(), if m.synthetic { " (synthetic)" } else { "" });
    s.push_str(&format!("  failure: {}\n", if l.failure { "yes" } else { "no" }));
    if let Some(o) = l.onset_ms {
        let at = t0 + o;
        let frame = frames_ms.partition_point(|t| *t < at);
        s.push_str(&format!(
            "  onset:   {} after start ({} ms; {}; frame {frame})\n",
            format_ms(o),
            o,
            Timestamp(at).to_rfc3339()
        ));
    } else if l.failure {
        s.push_str("  onset:   not set (time to detection cannot be measured)\n");
    }
    if let Some(k) = &l.kind {
        s.push_str(&format!("  kind:    {k}\n"));
    }
    if !l.notes.is_empty() {
        s.push_str(&format!("  notes:   {}\n", l.notes));
    }
    s
}
