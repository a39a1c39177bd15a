//! Byte-exact rendering of the simulated camera's responses and stream parts,
//! with each injectable fault. Pure: the server writes what this returns.

use std::time::Duration;

use bytes::Bytes;

use super::{BoundaryStyle, Fault, Framing, MjpegServerOptions};

/// What a faulty part carries instead of a JPEG.
pub const NOT_JPEG_BODY: &[u8] = b"camera error: sensor timeout\n";
/// Bytes written between parts by [`Fault::GarbageBetweenParts`] (no boundary inside).
pub const GARBAGE: &[u8] = b"\x00\x01garbage\xfe\xff between parts 0123456789\r\nmore junk\x7f";

/// One part (or one snapshot response) ready to write: `head`, then after
/// `stall` (if any) `tail`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub head: Vec<u8>,
    pub stall: Option<Duration>,
    pub tail: Vec<u8>,
    /// Close the connection after writing (snapshot responses with a broken length).
    pub close: bool,
}

impl Rendered {
    fn whole(head: Vec<u8>) -> Self {
        Rendered { head, stall: None, tail: vec![], close: false }
    }
}

/// The boundary token and the `Content-Type` header value that declares it.
pub fn boundary(opts: &MjpegServerOptions) -> (&'static str, String) {
    match opts.boundary {
        BoundaryStyle::Plain => {
            ("boundarydonotcross", "multipart/x-mixed-replace;boundary=boundarydonotcross".to_string())
        }
        BoundaryStyle::Quoted => {
            ("layerwatch frame", "multipart/x-mixed-replace; boundary=\"layerwatch frame\"".to_string())
        }
        // IP-camera style: declared with the dashes, lines carry no extra ones.
        BoundaryStyle::Dashed => ("myboundary", "multipart/x-mixed-replace; boundary=--myboundary".to_string()),
        BoundaryStyle::Undeclared => ("frame", "multipart/x-mixed-replace".to_string()),
    }
}

/// The stream response's status line and headers, plus the first boundary for
/// mjpg-streamer framing.
pub fn stream_head(opts: &MjpegServerOptions) -> Vec<u8> {
    let (b, ct) = boundary(opts);
    let mut out = format!(
        "HTTP/1.1 200 OK\r\nServer: layerwatch-sim\r\nConnection: close\r\n\
         Cache-Control: no-store, no-cache, must-revalidate, max-age=0\r\nPragma: no-cache\r\n\
         Content-Type: {ct}\r\n\r\n"
    )
    .into_bytes();
    if opts.framing == Framing::BoundaryAfter {
        out.extend_from_slice(format!("--{b}\r\n").as_bytes());
    }
    out
}

/// Part headers: content type, optional length, optional timestamp.
fn part_headers(content_type: &str, length: Option<usize>, x_timestamp: Option<f64>) -> Vec<u8> {
    let mut h = format!("Content-Type: {content_type}\r\n");
    if let Some(l) = length {
        h.push_str(&format!("Content-Length: {l}\r\n"));
    }
    if let Some(t) = x_timestamp {
        h.push_str(&format!("X-Timestamp: {t:.6}\r\n"));
    }
    h.push_str("\r\n");
    h.into_bytes()
}

/// A deterministic non-JPEG body as long as a frame.
fn corrupt_body(len: usize) -> Vec<u8> {
    (0..len.max(16)).map(|i| (i as u8).wrapping_mul(31).wrapping_add(7) | 0x01).collect()
}

/// One stream part for `jpeg` with `fault`. `x_timestamp`: seconds to send in the header.
pub fn part(jpeg: &Bytes, fault: Option<Fault>, opts: &MjpegServerOptions, x_timestamp: f64) -> Rendered {
    let (b, _) = boundary(opts);
    let ts = opts.x_timestamp.then_some(x_timestamp);
    let len = jpeg.len();
    let cl = |n: usize| opts.content_length.then_some(n);
    let (ct, declared, body): (&str, Option<usize>, Vec<u8>) = match fault {
        None | Some(Fault::GarbageBetweenParts) | Some(Fault::Stall(_)) => ("image/jpeg", cl(len), jpeg.to_vec()),
        Some(Fault::TruncatedPart) => ("image/jpeg", cl(len), jpeg[..len / 2].to_vec()),
        Some(Fault::ContentLengthTooSmall) => ("image/jpeg", Some(len - (len / 4).max(1).min(len)), jpeg.to_vec()),
        Some(Fault::ContentLengthTooLarge) => ("image/jpeg", Some(len + len / 4 + 16), jpeg.to_vec()),
        Some(Fault::NotJpeg) => ("text/plain", cl(NOT_JPEG_BODY.len()), NOT_JPEG_BODY.to_vec()),
        Some(Fault::CorruptJpeg) => ("image/jpeg", cl(len), corrupt_body(len)),
    };
    let mut out = vec![];
    if opts.framing == Framing::BoundaryBefore {
        out.extend_from_slice(format!("--{b}\r\n").as_bytes());
    }
    out.extend(part_headers(ct, declared, ts));
    out.extend_from_slice(&body);
    out.extend_from_slice(b"\r\n");
    if fault == Some(Fault::GarbageBetweenParts) {
        out.extend_from_slice(GARBAGE);
        out.extend_from_slice(b"\r\n");
    }
    if opts.framing == Framing::BoundaryAfter {
        out.extend_from_slice(format!("--{b}\r\n").as_bytes());
    }
    match fault {
        Some(Fault::Stall(d)) => {
            // Stall in the middle of the JPEG, so a client that gives up holds half a part.
            let cut =
                out.len() - body.len() / 2 - 2 - if opts.framing == Framing::BoundaryAfter { b.len() + 4 } else { 0 };
            let tail = out.split_off(cut);
            Rendered { head: out, stall: Some(d), tail, close: false }
        }
        _ => Rendered::whole(out),
    }
}

/// A complete snapshot response for `jpeg` with `fault`.
pub fn snapshot(jpeg: &Bytes, fault: Option<Fault>) -> Rendered {
    let len = jpeg.len();
    let head = |ct: &str, declared: usize| {
        format!(
            "HTTP/1.1 200 OK\r\nServer: layerwatch-sim\r\nConnection: close\r\nCache-Control: no-store\r\n\
             Content-Type: {ct}\r\nContent-Length: {declared}\r\n\r\n"
        )
        .into_bytes()
    };
    let with = |mut h: Vec<u8>, body: &[u8], close: bool| {
        h.extend_from_slice(body);
        Rendered { head: h, stall: None, tail: vec![], close }
    };
    match fault {
        None | Some(Fault::GarbageBetweenParts) => with(head("image/jpeg", len), jpeg, false),
        // Declares the whole image, sends half, hangs up.
        Some(Fault::TruncatedPart) => with(head("image/jpeg", len), &jpeg[..len / 2], true),
        Some(Fault::ContentLengthTooSmall) => {
            let declared = len - (len / 4).max(1).min(len);
            with(head("image/jpeg", declared), &jpeg[..declared], true)
        }
        Some(Fault::ContentLengthTooLarge) => with(head("image/jpeg", len + len / 4 + 16), jpeg, true),
        Some(Fault::NotJpeg) => with(head("text/plain", NOT_JPEG_BODY.len()), NOT_JPEG_BODY, false),
        Some(Fault::CorruptJpeg) => with(head("image/jpeg", len.max(16)), &corrupt_body(len), false),
        Some(Fault::Stall(d)) => {
            let mut h = head("image/jpeg", len);
            h.extend_from_slice(&jpeg[..len / 2]);
            Rendered { head: h, stall: Some(d), tail: jpeg[len / 2..].to_vec(), close: false }
        }
    }
}

/// A short plain-text response (errors, 401, 404).
pub fn plain(status: &str, extra_headers: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status}\r\nServer: layerwatch-sim\r\nConnection: close\r\n{extra_headers}\
         Content-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};

    use super::*;
    use crate::capture::fake::TINY_JPEG;
    use crate::capture::mjpeg::content_type::{self, ResponseKind};
    use crate::capture::mjpeg::parser::{Event, MultipartParser};

    /// Renders a stream head + one part per fault + a good part, and parses it with
    /// the client's parser, as the client would see it.
    fn check(opts: MjpegServerOptions, expected: Expect) {
        let jpeg = Bytes::from_static(TINY_JPEG);
        let faults = [
            None,
            Some(Fault::TruncatedPart),
            Some(Fault::ContentLengthTooSmall),
            Some(Fault::ContentLengthTooLarge),
            Some(Fault::NotJpeg),
            Some(Fault::CorruptJpeg),
            Some(Fault::GarbageBetweenParts),
            Some(Fault::Stall(Duration::from_millis(5))),
            None,
        ];
        let head = stream_head(&opts);
        let split = head.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        let header_text = String::from_utf8_lossy(&head[..split]).to_string();
        let ct = header_text.lines().find_map(|l| l.strip_prefix("Content-Type: ")).unwrap();
        let ResponseKind::Multipart { boundary } = content_type::classify(Some(ct)) else { panic!("{ct}") };
        let mut p = MultipartParser::new(boundary.as_deref(), 1 << 20);
        p.push(&head[split..]);
        let show = |e: Event| match e {
            Event::Frame(part) => {
                assert_eq!(&part.jpeg[..], TINY_JPEG);
                format!("frame{}", if part.resynced { " (resynced)" } else { "" })
            }
            Event::Skipped(r) => format!("skipped: {r}"),
            Event::Junk(n) => format!("junk {n}"),
        };
        let mut out = vec![];
        for f in faults {
            let r = part(&jpeg, f, &opts, 1.5);
            p.push(&r.head);
            p.push(&r.tail);
            while let Some(e) = p.poll() {
                out.push(show(e));
            }
        }
        out.extend(p.finish().into_iter().map(|e| format!("{} (when the stream ends)", show(e))));
        expected.assert_eq(&out.join("\n"));
    }

    #[test]
    fn mjpg_streamer_style_with_every_fault() {
        check(
            MjpegServerOptions::default(),
            expect![[r#"
                frame
                skipped: truncated JPEG (no end-of-image marker); wrong Content-Length
                frame (resynced)
                frame (resynced)
                skipped: not a JPEG part (Content-Type: text/plain)
                skipped: not a JPEG (no start-of-image marker)
                frame
                junk 42
                frame
                frame"#]],
        );
    }

    #[test]
    fn flask_style_without_length_with_every_fault() {
        let opts = MjpegServerOptions {
            framing: Framing::BoundaryBefore,
            content_length: false,
            boundary: BoundaryStyle::Quoted,
            x_timestamp: false,
            ..Default::default()
        };
        check(
            opts,
            expect![[r#"
                frame
                skipped: truncated JPEG (no end-of-image marker)
                frame (resynced)
                frame (resynced)
                skipped: not a JPEG part (Content-Type: text/plain)
                skipped: not a JPEG (no start-of-image marker)
                skipped: truncated JPEG (no end-of-image marker)
                frame
                frame (when the stream ends)"#]],
        );
    }

    #[test]
    fn dashed_and_undeclared_boundaries() {
        for boundary in [BoundaryStyle::Dashed, BoundaryStyle::Undeclared] {
            let opts = MjpegServerOptions { boundary, ..Default::default() };
            let r = part(&Bytes::from_static(TINY_JPEG), None, &opts, 1.0);
            let (b, _) = super::boundary(&opts);
            assert!(r.head.ends_with(format!("\r\n--{b}\r\n").as_bytes()));
        }
    }

    #[test]
    fn snapshot_faults() {
        let jpeg = Bytes::from_static(TINY_JPEG);
        let ok = snapshot(&jpeg, None);
        assert!(ok.head.ends_with(TINY_JPEG) && !ok.close);
        let cut = snapshot(&jpeg, Some(Fault::TruncatedPart));
        assert!(cut.close && cut.head.len() < ok.head.len());
        let stall = snapshot(&jpeg, Some(Fault::Stall(Duration::from_secs(1))));
        assert_eq!([stall.head, stall.tail].concat(), ok.head);
    }
}
