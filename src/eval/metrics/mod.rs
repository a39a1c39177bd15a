//! The numbers: binary detection metrics (ROC, PR, AUROC, AUPRC, counts at a
//! threshold, recall at a false-positive rate), calibration (ECE and the
//! reliability diagram), the confusion matrix, and small statistics
//! (quantiles, Wilson and Poisson intervals). Pure functions of scores and
//! labels; no I/O.
//!
//! Convention everywhere: a score **at or above** the threshold is called a
//! failure (the decision layer's "reaches the level").

pub mod binary;
pub mod calibration;
pub mod confusion;
pub mod stats;

pub use binary::{
    BinaryCounts, CurvePoint, OperatingPoint, auprc, auroc, counts_at, pr_curve, recall_at_fpr, roc_curve,
};
pub use calibration::{ReliabilityBin, ece, reliability};
pub use confusion::{ClassMetrics, Confusion};
pub use stats::{Interval, mean, poisson_upper_95, quantile, wilson_95};
