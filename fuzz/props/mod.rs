//! What each fuzz target checks, one file per parser of outside input. Each `check(data)` panics when a property
//! fails, so libFuzzer reports it as a crash.
//!
//! Compiled twice: by the fuzz workspace (`fuzz/src/lib.rs`, for libFuzzer) and by the main crate's unit tests
//! (`src/lib.rs`, `#[cfg(test)] mod fuzz_props`), which run every check over the committed seed corpora plus
//! mutated copies of them (`cargo test --lib fuzz_props`). The `crate::` paths below resolve in both.

pub mod config_toml;
pub mod image_header;
pub mod marlin_lines;
pub mod mjpeg_stream;
pub mod moonraker_json;
pub mod octoprint_json;
/// `manifest.toml`, `frames.csv` and `printer.jsonl` are read by `eval`, which the fuzz workspace cannot compile
/// alone (its error type carries the vision stage's): checked in the main crate's tests only.
#[cfg(test)]
pub mod sequence_files;
#[cfg(test)]
mod tests;

/// Input that is valid UTF-8, or its lossy form: the text parsers get both kinds of input.
pub fn text(data: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(data)
}

/// Feeds `data` in chunks whose sizes cycle through `sizes` (0 is read as 1).
pub fn chunks<'a>(data: &'a [u8], sizes: &'a [usize]) -> impl Iterator<Item = &'a [u8]> + 'a {
    let mut at = 0;
    let mut k = 0;
    std::iter::from_fn(move || {
        if at >= data.len() {
            return None;
        }
        let n = sizes.get(k % sizes.len().max(1)).copied().unwrap_or(1).max(1).min(data.len() - at);
        k += 1;
        at += n;
        Some(&data[at - n..at])
    })
}
