//! Throughput of the multipart parser on a recorded-like 720p MJPEG stream,
//! fed in network-sized chunks: with `Content-Length` (mjpg-streamer,
//! ustreamer) and without it (boundary search through every byte).
//!
//! `cargo bench --bench mjpeg_parse`

#[path = "support/frames.rs"]
mod frames;

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use layerwatch::capture::mjpeg::parser::{Event, MultipartParser};

fn stream(jpegs: &[bytes::Bytes], content_length: bool) -> Vec<u8> {
    let mut s = b"--boundarydonotcross\r\n".to_vec();
    for j in jpegs {
        s.extend_from_slice(b"Content-Type: image/jpeg\r\n");
        if content_length {
            s.extend_from_slice(format!("Content-Length: {}\r\n", j.len()).as_bytes());
        }
        s.extend_from_slice(b"X-Timestamp: 1700000000.000000\r\n\r\n");
        s.extend_from_slice(j);
        s.extend_from_slice(b"\r\n--boundarydonotcross\r\n");
    }
    s
}

fn parse(s: &[u8], chunk: usize) -> usize {
    let mut p = MultipartParser::new(Some("boundarydonotcross"), 16 << 20);
    let mut frames = 0;
    for c in s.chunks(chunk) {
        p.push(c);
        while let Some(e) = p.poll() {
            if let Event::Frame(part) = e {
                frames += 1;
                black_box(part.jpeg);
            }
        }
    }
    frames
}

fn bench(c: &mut Criterion) {
    let jpegs = frames::realistic_jpegs(20, 1280, 720);
    let mean = jpegs.iter().map(|j| j.len()).sum::<usize>() / jpegs.len();
    eprintln!("720p JPEG frames: {} of {} bytes on average", jpegs.len(), mean);
    let mut g = c.benchmark_group("mjpeg_parse");
    for (name, cl) in [("with_content_length", true), ("boundary_search", false)] {
        let s = stream(&jpegs, cl);
        assert_eq!(parse(&s, 16 * 1024), jpegs.len());
        g.throughput(Throughput::Bytes(s.len() as u64));
        for chunk in [16 * 1024, 1500] {
            g.bench_function(format!("{name}/chunks_of_{chunk}"), |b| b.iter(|| parse(black_box(&s), chunk)));
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
