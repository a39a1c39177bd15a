//! Data-driven tests of the multipart parser. Every case is parsed whole and in
//! chunks of 1, 2, 3, 5, 7, 16 and 64 bytes; all must give the same events.

use expect_test::{Expect, expect};

use super::*;

const J1: &[u8] = b"\xFF\xD8one\xFF\xD9";
const J2: &[u8] = b"\xFF\xD8two\xFF\xD9";
const J3: &[u8] = b"\xFF\xD8three\xFF\xD9";

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// A part the way mjpg-streamer writes it: headers, blank line, JPEG, then the next boundary.
fn mjpg_part(body: &[u8], content_length: usize) -> Vec<u8> {
    cat(&[
        format!(
            "Content-Type: image/jpeg\r\nContent-Length: {content_length}\r\nX-Timestamp: 1700000000.250000\r\n\r\n"
        )
        .as_bytes(),
        body,
        b"\r\n--boundarydonotcross\r\n",
    ])
}

fn parse(boundary: Option<&str>, max: usize, stream: &[u8], chunk: usize) -> Vec<Event> {
    let mut p = MultipartParser::new(boundary, max);
    let mut out = vec![];
    for c in stream.chunks(chunk.max(1)) {
        p.push(c);
        while let Some(e) = p.poll() {
            out.push(e);
        }
    }
    out.extend(p.finish());
    out
}

fn render(events: &[Event]) -> String {
    events
        .iter()
        .map(|e| match e {
            Event::Frame(p) => format!(
                "frame \"{}\"{}{}",
                p.jpeg.escape_ascii(),
                p.x_timestamp.map(|t| format!(" ts={t}")).unwrap_or_default(),
                if p.resynced { " (resynced)" } else { "" }
            ),
            Event::Skipped(r) => format!("skipped: {r}"),
            Event::Junk(n) => format!("junk {n}"),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn check(boundary: Option<&str>, stream: &[u8], expected: Expect) {
    check_max(boundary, 1 << 20, stream, expected);
}

fn check_max(boundary: Option<&str>, max: usize, stream: &[u8], expected: Expect) {
    let whole = parse(boundary, max, stream, stream.len());
    for chunk in [1, 2, 3, 5, 7, 16, 64] {
        assert_eq!(render(&parse(boundary, max, stream, chunk)), render(&whole), "chunks of {chunk} bytes");
    }
    expected.assert_eq(&render(&whole));
}

#[test]
fn mjpg_streamer_framing() {
    let s = cat(&[b"--boundarydonotcross\r\n", &mjpg_part(J1, J1.len()), &mjpg_part(J2, J2.len())]);
    check(
        Some("boundarydonotcross"),
        &s,
        expect![[r#"
            frame "\xff\xd8one\xff\xd9" ts=1700000000.25
            frame "\xff\xd8two\xff\xd9" ts=1700000000.25"#]],
    );
}

#[test]
fn ustreamer_framing_with_extra_headers() {
    let part = |b: &[u8]| {
        cat(&[
            format!(
                "Content-Type: image/jpeg\r\nContent-Length: {}\r\nX-Timestamp: 12.5\r\nX-UStreamer-Online: true\r\n\
                 X-UStreamer-Width: 1280\r\n\r\n",
                b.len()
            )
            .as_bytes(),
            b,
            b"\r\n--boundarydonotcross\r\n",
        ])
    };
    let s = cat(&[b"--boundarydonotcross\r\n", &part(J1), &part(J2)]);
    check(
        Some("boundarydonotcross"),
        &s,
        expect![[r#"
            frame "\xff\xd8one\xff\xd9" ts=12.5
            frame "\xff\xd8two\xff\xd9" ts=12.5"#]],
    );
}

#[test]
fn boundary_before_each_part_without_content_length() {
    // Flask/OpenCV tutorial servers: `--frame` + headers + JPEG + CRLF, no length.
    let part = |b: &[u8]| cat(&[b"--frame\r\nContent-Type: image/jpeg\r\n\r\n", b, b"\r\n"]);
    let s = cat(&[&part(J1), &part(J2), &part(J3)]);
    check(
        Some("frame"),
        &s,
        // The last part has no closing boundary; it is a complete JPEG, so it is kept when the stream ends.
        expect![[r#"
            frame "\xff\xd8one\xff\xd9"
            frame "\xff\xd8two\xff\xd9"
            frame "\xff\xd8three\xff\xd9""#]],
    );
}

#[test]
fn boundary_declared_with_dashes_matches_both_line_styles() {
    let s = cat(&[
        b"--myboundary\r\nContent-Type: image/jpeg\r\n\r\n",
        J1,
        b"\r\n----myboundary\r\nContent-Type: image/jpeg\r\n\r\n",
        J2,
        b"\r\n--myboundary\r\nContent-Type: image/jpeg\r\nContent-Length: 9\r\n\r\n",
        J3,
        b"\r\n----myboundary\r\n",
    ]);
    check(
        Some("--myboundary"),
        &s,
        expect![[r#"
            frame "\xff\xd8one\xff\xd9"
            frame "\xff\xd8two\xff\xd9"
            frame "\xff\xd8three\xff\xd9""#]],
    );
}

#[test]
fn content_length_too_small_is_reframed_on_the_boundary() {
    let s = cat(&[b"--b\r\n", &mjpg_part(J1, 3), &mjpg_part(J2, J2.len())]).replace_boundary();
    check(
        Some("b"),
        &s,
        expect![[r#"
            frame "\xff\xd8one\xff\xd9" ts=1700000000.25 (resynced)
            frame "\xff\xd8two\xff\xd9" ts=1700000000.25"#]],
    );
}

#[test]
fn content_length_too_large_is_reframed_and_the_next_part_survives() {
    let s = cat(&[b"--b\r\n", &mjpg_part(J1, J1.len() + 40), &mjpg_part(J2, J2.len()), &mjpg_part(J3, J3.len())])
        .replace_boundary();
    check(
        Some("b"),
        &s,
        expect![[r#"
            frame "\xff\xd8one\xff\xd9" ts=1700000000.25 (resynced)
            frame "\xff\xd8two\xff\xd9" ts=1700000000.25
            frame "\xff\xd8three\xff\xd9" ts=1700000000.25"#]],
    );
}

#[test]
fn truncated_part_is_skipped_and_the_stream_goes_on() {
    // Declares the full length but carries only the first half of the JPEG.
    let s = cat(&[b"--b\r\n", &mjpg_part(&J1[..4], J1.len()), &mjpg_part(J2, J2.len())]).replace_boundary();
    check(
        Some("b"),
        &s,
        expect![[r#"
            skipped: truncated JPEG (no end-of-image marker); wrong Content-Length
            frame "\xff\xd8two\xff\xd9" ts=1700000000.25"#]],
    );
}

#[test]
fn non_jpeg_parts_are_skipped_with_and_without_length() {
    let s = cat(&[
        b"--b\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello\r\n",
        b"--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<h1>503</h1>\r\n",
        b"--b\r\nContent-Type: image/jpeg\r\nContent-Length: 5\r\n\r\nhello\r\n",
        b"--b\r\nContent-Type: image/jpeg\r\n\r\n",
        J1,
        b"\r\n--b\r\n",
    ]);
    check(
        Some("b"),
        &s,
        expect![[r#"
            skipped: not a JPEG part (Content-Type: text/plain)
            skipped: not a JPEG part (Content-Type: text/html; charset=utf-8)
            skipped: not a JPEG (no start-of-image marker)
            frame "\xff\xd8one\xff\xd9""#]],
    );
}

#[test]
fn garbage_between_parts_is_counted_and_skipped() {
    let s = cat(&[
        b"noise before the first boundary\r\n--b\r\n",
        b"Content-Type: image/jpeg\r\nContent-Length: 9\r\n\r\n",
        J1,
        b"\r\nGARBAGE\x00\x01\x02 more garbage\r\n--b\r\n",
        b"Content-Type: image/jpeg\r\n\r\n",
        J2,
        b"\r\n--b\r\n",
    ]);
    check(
        Some("b"),
        &s,
        expect![[r#"
            junk 27
            frame "\xff\xd8one\xff\xd9"
            junk 21
            frame "\xff\xd8two\xff\xd9""#]],
    );
}

#[test]
fn parts_over_the_cap_are_skipped_without_buffering_them() {
    let big = cat(&[b"\xFF\xD8", &[b'x'; 100], b"\xFF\xD9"]);
    let s = cat(&[
        b"--b\r\nContent-Type: image/jpeg\r\n\r\n",
        &big,
        b"\r\n--b\r\nContent-Type: image/jpeg\r\nContent-Length: 104\r\n\r\n",
        &big,
        b"\r\n--b\r\nContent-Type: image/jpeg\r\n\r\n",
        J1,
        b"\r\n--b\r\n",
    ]);
    check_max(
        Some("b"),
        64,
        &s,
        expect![[r#"
            skipped: part larger than 64 bytes
            skipped: part larger than 64 bytes
            frame "\xff\xd8one\xff\xd9""#]],
    );
}

#[test]
fn stream_cut_inside_a_part() {
    let s = cat(&[
        b"--b\r\n",
        &mjpg_part(J1, J1.len()),
        b"Content-Type: image/jpeg\r\nContent-Length: 9\r\n\r\n\xFF\xD8th",
    ])
    .replace_boundary();
    check(
        Some("b"),
        &s,
        expect![[r#"
            frame "\xff\xd8one\xff\xd9" ts=1700000000.25
            skipped: stream ended inside a part after 4 bytes"#]],
    );
}

#[test]
fn undeclared_boundary_is_taken_from_the_first_dash_line() {
    let s = cat(&[b"\r\n--some boundary 42\r\nContent-Type: image/jpeg\r\n\r\n", J1, b"\r\n--some boundary 42\r\n"]);
    check(None, &s, expect![[r#"frame "\xff\xd8one\xff\xd9""#]]);
}

#[test]
fn part_without_headers_and_close_delimiter_with_epilogue() {
    let s = cat(&[b"--b\r\n", J1, b"\r\n--b\r\n\r\n", J2, b"\r\n--b--\r\nepilogue\r\n"]);
    check(
        Some("b"),
        &s,
        expect![[r#"
            frame "\xff\xd8one\xff\xd9"
            frame "\xff\xd8two\xff\xd9"
            junk 8"#]],
    );
}

#[test]
fn padding_after_the_end_marker_is_trimmed() {
    let s = cat(&[b"--b\r\nContent-Length: 11\r\n\r\n", J1, b"\0\0\r\n--b\r\n"]);
    check(Some("b"), &s, expect![[r#"frame "\xff\xd8one\xff\xd9""#]]);
}

#[test]
fn a_boundary_lookalike_is_not_a_boundary() {
    let s = cat(&[b"--b\r\n", J1, b"\r\n--bx\r\n", J2, b"\r\n--b\r\n"]);
    // `--bx` is not a delimiter line: the part runs on to the real `--b` line.
    check(Some("b"), &s, expect![[r#"frame "\xff\xd8one\xff\xd9\r\n--bx\r\n\xff\xd8two\xff\xd9""#]]);
}

#[test]
fn many_real_sized_frames_survive_arbitrary_chunking() {
    // 40 parts of pseudo-random JPEG-like bodies (with CR, LF and dashes inside),
    // mixed framing faults; split at pseudo-random points.
    let mut rng = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut stream = b"--frame\r\n".to_vec();
    let mut good = 0;
    for i in 0..40 {
        let len = 200 + (next() % 3000) as usize;
        let mut body = vec![0xFF, 0xD8];
        body.extend((0..len).map(|_| match next() % 16 {
            0 => b'\r',
            1 => b'\n',
            2 => b'-',
            _ => (next() % 255) as u8,
        }));
        body.extend([0xFF, 0xD9]);
        let declared = match i % 5 {
            3 => body.len() - 7,
            4 => body.len() / 2,
            _ => body.len(),
        };
        let sent: &[u8] = if i % 5 == 4 { &body[..declared] } else { &body };
        if i % 5 != 4 {
            good += 1;
        }
        stream.extend(format!("Content-Type: image/jpeg\r\nContent-Length: {declared}\r\n\r\n").as_bytes());
        stream.extend(sent);
        stream.extend(b"\r\n--frame\r\n");
    }
    let whole = parse(Some("frame"), 1 << 20, &stream, stream.len());
    let frames = whole.iter().filter(|e| matches!(e, Event::Frame(_))).count();
    assert_eq!(frames, good);
    for round in 0..20 {
        let mut p = MultipartParser::new(Some("frame"), 1 << 20);
        let mut out = vec![];
        let mut rest: &[u8] = &stream;
        while !rest.is_empty() {
            let n = (1 + next() % 5000) as usize;
            let (c, r) = rest.split_at(n.min(rest.len()));
            p.push(c);
            rest = r;
            while let Some(e) = p.poll() {
                out.push(e);
            }
        }
        out.extend(p.finish());
        assert_eq!(out, whole, "round {round}");
    }
}

#[test]
fn memory_stays_bounded_on_endless_junk() {
    let mut p = MultipartParser::new(Some("boundarydonotcross"), 1024);
    for _ in 0..1000 {
        p.push(&[b'z'; 4096]);
        while p.poll().is_some() {}
        assert!(p.buffered() < 64, "{}", p.buffered());
    }
    // And on an endless part with no boundary.
    let mut p = MultipartParser::new(Some("b"), 1024);
    p.push(b"--b\r\n\r\n\xFF\xD8");
    let mut skipped = 0;
    for _ in 0..1000 {
        p.push(&[b'z'; 4096]);
        while let Some(e) = p.poll() {
            assert_eq!(e, Event::Skipped(SkipReason::TooLarge { limit: 1024 }));
            skipped += 1;
        }
        assert!(p.buffered() < 1024 + 4096 + 16, "{}", p.buffered());
    }
    assert_eq!(skipped, 1);
}

/// Test streams are written with `boundarydonotcross`; short cases use `b`.
trait ReplaceBoundary {
    fn replace_boundary(self) -> Vec<u8>;
}

impl ReplaceBoundary for Vec<u8> {
    fn replace_boundary(self) -> Vec<u8> {
        let from = b"--boundarydonotcross";
        let mut out = Vec::with_capacity(self.len());
        let mut i = 0;
        while i < self.len() {
            if self[i..].starts_with(from) {
                out.extend_from_slice(b"--b");
                i += from.len();
            } else {
                out.push(self[i]);
                i += 1;
            }
        }
        out
    }
}
