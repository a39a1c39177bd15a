//! Every fuzz target's property over its committed seeds (`fuzz/corpus-seeds/<target>/`) and over mutated copies of
//! them (bytes flipped, inserted, deleted, repeated, spliced across seeds, cut short), from a fixed seed so a failure
//! reproduces. The normal test run's share of fuzzing; libFuzzer runs by `scripts/fuzz_all.sh`.

use std::path::PathBuf;

fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus-seeds").join(target);
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_file())
        .map(|p| (p.file_name().unwrap_or_default().to_string_lossy().into_owned(), std::fs::read(&p).expect("seed")))
        .collect();
    out.sort();
    assert!(out.len() >= 2, "{}: at least two seeds", dir.display());
    out
}

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 { 0 } else { (self.next() % n as u64) as usize }
    }
}

const INTERESTING: &[&[u8]] = &[
    b"\r\n",
    b"\n",
    b"\0",
    b"\xFF\xD8",
    b"\xFF\xD9",
    b"--",
    b"nan",
    b"inf",
    b"1e39",
    b"-1",
    b"4294967296",
    b"\"",
    b"{",
    b"}",
    b"[",
    b"]",
    b":",
    b"=",
    b"ok ",
    b"Resend:",
    b"Content-Length: ",
    b"\r\n\r\n",
    b"\xC3\x28",
];

fn mutate(rng: &mut Rng, data: &[u8], other: &[u8]) -> Vec<u8> {
    let mut d = data.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(d.len() + 1);
        match rng.below(7) {
            0 if !d.is_empty() => {
                let i = rng.below(d.len());
                d[i] ^= 1 << rng.below(8);
            }
            1 => d.insert(at, rng.next() as u8),
            2 if at < d.len() => {
                let n = 1 + rng.below((d.len() - at).min(64));
                d.drain(at..at + n);
            }
            3 if at < d.len() => {
                let n = 1 + rng.below((d.len() - at).min(256));
                let piece = d[at..at + n].to_vec();
                d.splice(at..at, piece.iter().copied().cycle().take(n * (1 + rng.below(8))));
            }
            4 if !other.is_empty() => {
                let from = rng.below(other.len());
                let n = 1 + rng.below((other.len() - from).min(512));
                d.splice(at..at, other[from..from + n].iter().copied());
            }
            5 => d.truncate(at),
            _ => {
                let token = INTERESTING[rng.below(INTERESTING.len())];
                d.splice(at..at, token.iter().copied());
            }
        }
    }
    d
}

fn run(target: &str, check: fn(&[u8]), per_seed: usize) {
    let seeds = seeds(target);
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ target.len() as u64);
    for (i, (name, data)) in seeds.iter().enumerate() {
        check(data);
        let other = &seeds[(i + 1) % seeds.len()].1;
        for n in 0..per_seed {
            let m = mutate(&mut rng, data, other);
            let r = std::panic::catch_unwind(|| check(&m));
            assert!(
                r.is_ok(),
                "{target}: mutation {n} of seed {name} fails; input: {:?}",
                m.escape_ascii().to_string()
            );
        }
    }
}

#[test]
fn mjpeg_stream() {
    run("mjpeg_stream", super::mjpeg_stream::check, 400);
}

#[test]
fn marlin_lines() {
    run("marlin_lines", super::marlin_lines::check, 400);
}

#[test]
fn octoprint_json() {
    run("octoprint_json", super::octoprint_json::check, 400);
}

#[test]
fn moonraker_json() {
    run("moonraker_json", super::moonraker_json::check, 400);
}

#[test]
fn image_header() {
    run("image_header", super::image_header::check, 400);
}

#[test]
fn config_toml() {
    run("config_toml", super::config_toml::check, 200);
}

#[test]
fn sequence_files() {
    run("sequence_files", super::sequence_files::check, 100);
}
