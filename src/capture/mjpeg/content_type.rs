//! What a camera URL's response `Content-Type` says it is: an MJPEG stream
//! (and its boundary), a single image, or something else (an error page).

/// The kind of response, from its `Content-Type`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponseKind {
    /// `multipart/x-mixed-replace` (or another multipart type); `boundary` as declared,
    /// unquoted, or `None` when the server did not declare one.
    Multipart { boundary: Option<String> },
    /// A single image (`image/*`): a snapshot URL.
    Image { content_type: String },
    /// Anything else, or no `Content-Type` at all.
    Other { content_type: String },
}

/// Classifies a `Content-Type` header value.
pub fn classify(content_type: Option<&str>) -> ResponseKind {
    let Some(ct) = content_type else {
        return ResponseKind::Other { content_type: String::new() };
    };
    let (mime, params) = match ct.split_once(';') {
        Some((m, p)) => (m.trim().to_ascii_lowercase(), p),
        None => (ct.trim().to_ascii_lowercase(), ""),
    };
    if mime.starts_with("multipart/") {
        let boundary = param(params, "boundary").filter(|b| !b.is_empty());
        ResponseKind::Multipart { boundary }
    } else if mime.starts_with("image/") {
        ResponseKind::Image { content_type: ct.trim().to_string() }
    } else {
        ResponseKind::Other { content_type: ct.trim().to_string() }
    }
}

/// The value of parameter `name` in `; a=b; c="d;e"`, unquoted (RFC 2045 quoted-string).
fn param(params: &str, name: &str) -> Option<String> {
    let mut rest = params;
    loop {
        rest = rest.trim_start_matches(|c: char| c == ';' || c.is_ascii_whitespace());
        if rest.is_empty() {
            return None;
        }
        let (key, after) = match rest.find(['=', ';']) {
            Some(i) if rest.as_bytes()[i] == b'=' => (&rest[..i], &rest[i + 1..]),
            Some(i) => {
                rest = &rest[i..];
                continue;
            }
            None => return None,
        };
        let (value, after) = if let Some(quoted) = after.trim_start().strip_prefix('"') {
            let mut v = String::new();
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, n)) = chars.next() {
                            v.push(n);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    _ => v.push(c),
                }
            }
            (v, &quoted[end.min(quoted.len())..])
        } else {
            let end = after.find(';').unwrap_or(after.len());
            (after[..end].trim().to_string(), &after[end..])
        };
        if key.trim().eq_ignore_ascii_case(name) {
            return Some(value);
        }
        rest = after;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boundary(ct: &str) -> Option<String> {
        match classify(Some(ct)) {
            ResponseKind::Multipart { boundary } => boundary,
            other => panic!("{ct}: {other:?}"),
        }
    }

    #[test]
    fn boundaries_as_servers_write_them() {
        let cases = [
            ("multipart/x-mixed-replace;boundary=boundarydonotcross", Some("boundarydonotcross")),
            ("multipart/x-mixed-replace; boundary=--myboundary", Some("--myboundary")),
            ("multipart/x-mixed-replace; boundary=\"layerwatch frame\"", Some("layerwatch frame")),
            ("Multipart/X-Mixed-Replace; Boundary=ABC; charset=utf-8", Some("ABC")),
            ("multipart/x-mixed-replace; charset=\"a;b\"; boundary=x", Some("x")),
            ("multipart/x-mixed-replace; boundary=\"q\\\"uote\"", Some("q\"uote")),
            ("multipart/x-mixed-replace;boundary=  spaced ;", Some("spaced")),
            ("multipart/x-mixed-replace", None),
            ("multipart/x-mixed-replace; boundary=", None),
            ("multipart/x-mixed-replace; junk; boundary=y", Some("y")),
        ];
        for (ct, want) in cases {
            assert_eq!(boundary(ct).as_deref(), want, "{ct}");
        }
    }

    #[test]
    fn images_and_other_types() {
        assert_eq!(classify(Some("image/jpeg")), ResponseKind::Image { content_type: "image/jpeg".into() });
        assert_eq!(
            classify(Some("text/html; charset=utf-8")),
            ResponseKind::Other { content_type: "text/html; charset=utf-8".into() }
        );
        assert_eq!(classify(None), ResponseKind::Other { content_type: String::new() });
    }
}
