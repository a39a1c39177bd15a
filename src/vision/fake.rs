//! `FakeClassifier`: a scripted `Classifier` for other modules' tests.
//!
//! Owns nothing real: it returns the failure probabilities (or errors) it was
//! given, in order, and repeats the last step when the script runs out. It
//! still checks frames the cheap way (a JPEG frame must at least be a whole
//! JPEG) so tests of bad input see the same errors as with the real model.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use super::jpeg;
use super::preprocess::PreprocessError;
use super::{Classifier, VisionError};
use crate::domain::{ClassScore, Frame, FrameImage, FrameScore, Scores};

/// One scripted answer.
#[derive(Debug, Clone, PartialEq)]
pub enum FakeStep {
    /// Failure probability; it goes to the first failure label, the rest to normal.
    Failure(f32),
    /// A full distribution in label order (normalised by the fake).
    Distribution(Vec<f32>),
    /// The frame cannot be decoded.
    DecodeError,
    /// Inference fails.
    RuntimeError,
    /// Blocks the worker this long, then scores 0 (to test watchdogs).
    Stall(Duration),
}

/// A classifier that plays back a script. Labels default to the real model's.
#[derive(Debug, Clone)]
pub struct FakeClassifier {
    labels: Vec<Arc<str>>,
    script: VecDeque<FakeStep>,
    last: FakeStep,
    calls: u64,
    brightness: f32,
}

impl FakeClassifier {
    /// Labels `normal, spaghetti, stringing, surface, other_failure`.
    pub fn new(script: impl IntoIterator<Item = FakeStep>) -> Self {
        let labels = ["normal", "spaghetti", "stringing", "surface", "other_failure"];
        FakeClassifier::with_labels(labels.iter().map(|l| Arc::from(*l)).collect(), script)
    }

    /// The first label is the normal one.
    pub fn with_labels(labels: Vec<Arc<str>>, script: impl IntoIterator<Item = FakeStep>) -> Self {
        FakeClassifier {
            labels,
            script: script.into_iter().collect(),
            last: FakeStep::Failure(0.0),
            calls: 0,
            brightness: 128.0,
        }
    }

    /// Failure probabilities only.
    pub fn from_failures(failures: impl IntoIterator<Item = f32>) -> Self {
        FakeClassifier::new(failures.into_iter().map(FakeStep::Failure))
    }

    /// Brightness reported for every frame (default 128).
    pub fn with_brightness(mut self, b: f32) -> Self {
        self.brightness = b;
        self
    }

    /// Frames classified so far (errors included).
    pub fn calls(&self) -> u64 {
        self.calls
    }

    fn distribution(&self, step: &FakeStep) -> Vec<f32> {
        let n = self.labels.len().max(1);
        match step {
            FakeStep::Distribution(d) => {
                let mut v: Vec<f32> = (0..n).map(|i| d.get(i).copied().unwrap_or(0.0).max(0.0)).collect();
                let sum: f32 = v.iter().sum();
                if sum > 0.0 {
                    v.iter_mut().for_each(|p| *p /= sum);
                } else {
                    v[0] = 1.0;
                }
                v
            }
            FakeStep::Failure(f) => {
                let f = f.clamp(0.0, 1.0);
                let mut v = vec![0.0; n];
                v[0] = 1.0 - f;
                if n > 1 {
                    v[1] = f;
                }
                v
            }
            _ => {
                let mut v = vec![0.0; n];
                v[0] = 1.0;
                v
            }
        }
    }
}

impl Classifier for FakeClassifier {
    fn labels(&self) -> &[Arc<str>] {
        &self.labels
    }

    fn classify(&mut self, frame: &Frame) -> Result<FrameScore, VisionError> {
        self.calls += 1;
        let step = self.script.pop_front().unwrap_or_else(|| self.last.clone());
        self.last = step.clone();
        // The real classifier's checks: the marker walk, then whether libjpeg decodes it whole.
        if let FrameImage::Jpeg(b) = &frame.image
            && let Err(e) = jpeg::inspect(b).and_then(|i| super::turbo::check(b, (i.width, i.height)))
        {
            let e = PreprocessError::from(e);
            return Err(VisionError::Decode {
                seq: frame.seq,
                kind: e.kind(),
                reason: e.to_string(),
            });
        }
        match &step {
            FakeStep::DecodeError => {
                return Err(VisionError::Decode {
                    seq: frame.seq,
                    kind: super::DecodeKind::Corrupt,
                    reason: "scripted decode error".into(),
                });
            }
            FakeStep::RuntimeError => return Err(VisionError::Runtime("scripted inference error".into())),
            FakeStep::Stall(d) => std::thread::sleep(*d),
            FakeStep::Failure(_) | FakeStep::Distribution(_) => {}
        }
        let probs = self.distribution(&step);
        let classes: Vec<ClassScore> = self
            .labels
            .iter()
            .zip(&probs)
            .map(|(l, p)| ClassScore {
                label: l.clone(),
                p: *p,
            })
            .collect();
        Ok(FrameScore {
            seq: frame.seq,
            captured_at: frame.captured_at,
            scores: Scores {
                failure: 1.0 - probs[0],
                classes,
            },
            brightness: self.brightness,
            fingerprint: frame.seq,
            latency_ms: 0.0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{RgbImage, Timestamp};

    fn frame(seq: u64) -> Frame {
        let img = RgbImage::new(1, 1, vec![0, 0, 0]).unwrap();
        Frame {
            seq,
            captured_at: Timestamp(seq as i64),
            source: "t".into(),
            image: FrameImage::Rgb(Arc::new(img)),
        }
    }

    #[test]
    fn plays_the_script_then_repeats_the_last_step() {
        let mut c = FakeClassifier::new([FakeStep::Failure(0.25), FakeStep::DecodeError, FakeStep::Failure(0.9)]);
        let mut out = Vec::new();
        for seq in 0..5 {
            out.push(match c.classify(&frame(seq)) {
                Ok(s) => format!(
                    "{seq}: {:.2} top={}",
                    s.scores.failure,
                    s.scores.top_failure("normal").unwrap().label
                ),
                Err(e) => format!("{seq}: {e}"),
            });
        }
        expect_test::expect![[r#"
            0: 0.25 top=spaghetti
            1: frame 1: cannot decode image: scripted decode error
            2: 0.90 top=spaghetti
            3: 0.90 top=spaghetti
            4: 0.90 top=spaghetti"#]]
        .assert_eq(&out.join("\n"));
        assert_eq!(c.calls(), 5);
    }

    #[test]
    fn distributions_are_normalised_and_bad_jpegs_rejected() {
        let mut c = FakeClassifier::new([FakeStep::Distribution(vec![1.0, 0.0, 3.0])]);
        let s = c.classify(&frame(0)).unwrap();
        assert_eq!(s.scores.class("stringing"), Some(0.75));
        assert!((s.scores.failure - 0.75).abs() < 1e-6);
        let bad = Frame {
            image: FrameImage::Jpeg(bytes::Bytes::from_static(b"\xff\xd8\xff")),
            ..frame(1)
        };
        let e = c.classify(&bad).unwrap_err();
        assert!(
            matches!(
                e,
                VisionError::Decode {
                    seq: 1,
                    kind: super::super::DecodeKind::Truncated,
                    ..
                }
            ),
            "{e}"
        );
    }
}
