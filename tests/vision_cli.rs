//! `layerwatch classify` as a user runs it: the real binary on the sample images
//! and on a folder of broken files (empty, truncated, garbled, not a JPEG, 1×1,
//! 10000×10, PNG), plus every setup error (no runtime library, a library file
//! that is not one, a missing model, a bad ROI) ending in a clear message and
//! exit code 2, never a panic.

mod vision_support;

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;
use vision_support::*;

fn layerwatch(args: &[&str]) -> Command {
    require_ort();
    let mut c = Command::new(env!("CARGO_BIN_EXE_layerwatch"));
    c.args(args).env("RUST_LOG", "warn").env_remove("LAYERWATCH_CONFIG");
    c
}

fn run(mut c: Command) -> (i32, String, String) {
    let Output { status, stdout, stderr } = c.output().expect("run layerwatch");
    let (out, err) = (
        String::from_utf8_lossy(&stdout).to_string(),
        String::from_utf8_lossy(&stderr).to_string(),
    );
    assert!(!err.contains("panicked"), "layerwatch panicked:\n{err}");
    (status.code().unwrap_or(-1), out, err)
}

fn json_lines(out: &str) -> Vec<Value> {
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

#[test]
fn samples_are_all_scored_as_json() {
    let dir = repo().join("datasets/samples/images");
    let (code, out, err) = run(layerwatch(&["classify", "--json", dir.to_str().unwrap()]));
    assert_eq!(code, 0, "stderr:\n{err}");
    let lines = json_lines(&out);
    let (summary, images) = lines.split_last().unwrap();
    assert_eq!(images.len(), samples().len());
    for l in images {
        assert_eq!(
            (l["type"].as_str(), l["ok"].as_bool()),
            (Some("image"), Some(true)),
            "{l}"
        );
        let classes = l["classes"].as_object().unwrap();
        let labels: Vec<&str> = classes.keys().map(String::as_str).collect();
        assert_eq!(labels.len(), 5, "{labels:?}");
        let sum: f64 = classes.values().map(|v| v.as_f64().unwrap()).sum();
        assert!((sum - 1.0).abs() < 1e-4, "{l}");
        let failure = l["failure"].as_f64().unwrap();
        assert!(
            (failure - (1.0 - classes["normal"].as_f64().unwrap())).abs() < 1e-5,
            "{l}"
        );
        assert_eq!(l["fingerprint"].as_str().unwrap().len(), 16);
        assert!(
            l["width"].as_u64().unwrap() >= 320 && l["latency_ms"].as_f64().unwrap() > 0.0,
            "{l}"
        );
    }
    assert_eq!(summary["type"], "summary");
    assert_eq!(
        (summary["images"].as_u64(), summary["decoded"].as_u64()),
        (Some(14), Some(14))
    );
    assert_eq!(summary["skipped"].as_u64(), Some(0));
    let failures = images.iter().filter(|l| l["failure"].as_f64().unwrap() >= 0.5).count() as u64;
    assert_eq!(summary["failures"].as_u64(), Some(failures));
}

/// A folder with good, broken and odd files, and something that is not an image at all.
fn broken_folder(dir: &Path) {
    let s = samples();
    for (p, _) in s.iter().take(3) {
        std::fs::copy(p, dir.join(p.file_name().unwrap())).unwrap();
    }
    std::fs::copy(fixture("empty.jpg"), dir.join("empty.jpg")).unwrap();
    std::fs::copy(fixture("truncated.jpg"), dir.join("truncated.jpg")).unwrap();
    let mut garbled = std::fs::read(&s[0].0).unwrap();
    let mid = garbled.len() / 2;
    garbled[mid..mid + 2].copy_from_slice(&[0xFF, 0x12]);
    std::fs::write(dir.join("garbled.jpg"), garbled).unwrap();
    std::fs::write(dir.join("text.jpg"), "this is not a picture").unwrap();
    std::fs::write(
        dir.join("one_pixel.jpg"),
        encode_jpeg(&rgb(1, 1, |_, _| [200, 30, 30]), 90),
    )
    .unwrap();
    std::fs::write(
        dir.join("wide.jpg"),
        encode_jpeg(&rgb(10000, 10, |x, _| [(x % 256) as u8, 90, 40]), 85),
    )
    .unwrap();
    let png = {
        use opencv::prelude::*;
        let img = opencv::imgcodecs::imread(s[3].0.as_os_str(), opencv::imgcodecs::IMREAD_COLOR).unwrap();
        let mut buf = opencv::core::Vector::<u8>::new();
        assert!(opencv::imgcodecs::imencode_def(".png", &img, &mut buf).unwrap());
        buf.to_vec()
    };
    std::fs::write(dir.join("lossless.PNG"), png).unwrap();
    std::fs::create_dir(dir.join("sub")).unwrap();
    std::fs::copy(&s[4].0, dir.join("sub/nested.jpeg")).unwrap();
    std::fs::write(dir.join("notes.txt"), "ignored: not an image extension").unwrap();
}

#[test]
fn broken_files_are_reported_counted_and_survived() {
    let tmp = tempfile::tempdir().unwrap();
    broken_folder(tmp.path());
    let (code, out, err) = run(layerwatch(&["classify", "--json", tmp.path().to_str().unwrap()]));
    assert_eq!(code, 1, "stderr:\n{err}");
    let lines = json_lines(&out);
    let (summary, images) = lines.split_last().unwrap();
    let mut failed: Vec<String> = images
        .iter()
        .filter(|l| l["ok"] == false)
        .map(|l| {
            let name = Path::new(l["path"].as_str().unwrap())
                .file_name()
                .unwrap()
                .to_string_lossy()
                .to_string();
            format!(
                "{name}: {} - {}",
                l["error_kind"].as_str().unwrap(),
                l["error"].as_str().unwrap()
            )
        })
        .collect();
    failed.sort();
    expect_test::expect![[r#"
        empty.jpg: empty - empty input (0 bytes)
        garbled.jpg: corrupt - corrupt jpeg at byte 6223: invalid byte pair ff 12 in image data
        text.jpg: unsupported - not an image this program reads (JPEG, PNG, BMP, WebP, TIFF): starts with bytes 74 68 69 73 20 69 73 20
        truncated.jpg: truncated - truncated jpeg: image data runs to the end of the file (3579 bytes) without an end-of-image marker"#]].assert_eq(&failed.join("\n"));
    let scored: Vec<&Value> = images.iter().filter(|l| l["ok"] == true).collect();
    assert_eq!(scored.len(), 7, "{out}");
    let wide = scored
        .iter()
        .find(|l| l["path"].as_str().unwrap().ends_with("wide.jpg"))
        .unwrap();
    assert_eq!(
        (wide["width"].as_u64(), wide["height"].as_u64()),
        (Some(10000), Some(10))
    );
    let s = serde_json::json!({
        "images": summary["images"], "decoded": summary["decoded"], "skipped": summary["skipped"],
        "skip_reasons": summary["skip_reasons"],
    });
    expect_test::expect![[
        r#"{"decoded":7,"images":11,"skip_reasons":{"corrupt":1,"empty":1,"truncated":1,"unsupported":1},"skipped":4}"#
    ]]
    .assert_eq(&s.to_string());

    // The same folder in text mode: one line per image and the summary table.
    let (code, out, _) = run(layerwatch(&["classify", tmp.path().to_str().unwrap()]));
    assert_eq!(code, 1);
    assert!(out.contains("truncated.jpg  SKIPPED (truncated)"), "{out}");
    let table: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.starts_with("model "))
        .skip(1)
        .take(3)
        .collect();
    expect_test::expect![[r#"
        images             11
        decoded             7
        skipped             4  (empty: 1, truncated: 1, corrupt: 1, unsupported: 1)"#]]
    .assert_eq(&table.join("\n"));
}

#[test]
fn setup_errors_are_clear_and_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let img = samples()[0].0.clone();
    let img = img.to_str().unwrap();
    let cfg = t.join("layerwatch.toml");
    std::fs::write(&cfg, "[vision]\nort_library = \"/nonexistent/libonnxruntime.so\"\n").unwrap();
    let not_a_lib = t.join("libonnxruntime.so");
    std::fs::write(&not_a_lib, "not an ELF file").unwrap();

    let mut cases = Vec::new();
    let (code, _, err) = run(layerwatch(&["--config", cfg.to_str().unwrap(), "classify", img]));
    cases.push(("configured library missing", code, err));
    let mut c = layerwatch(&["classify", img]);
    c.env("ORT_DYLIB_PATH", &not_a_lib);
    let (code, _, err) = run(c);
    cases.push(("ORT_DYLIB_PATH not a library", code, err));
    let (code, _, err) = run(layerwatch(&[
        "classify",
        "--model",
        t.join("none.toml").to_str().unwrap(),
        img,
    ]));
    cases.push(("model missing", code, err));
    let (code, _, err) = run(layerwatch(&["classify", "--roi", "0.5,0.5,0.9,0.2", img]));
    cases.push(("bad roi", code, err));
    let (code, _, err) = run(layerwatch(&["classify", t.join("nothing-here").to_str().unwrap()]));
    cases.push(("no such path", code, err));
    let (code, _, err) = run(layerwatch(&["classify", t.to_str().unwrap()]));
    cases.push(("folder without images", code, err));

    let root = t.display().to_string();
    let out: Vec<String> = cases
        .into_iter()
        .map(|(name, code, err)| {
            let last = err
                .lines()
                .find(|l| l.starts_with("error:"))
                .unwrap_or(&err)
                .replace(&root, "$TMP");
            format!("{name}: exit {code}: {last}")
        })
        .collect();
    expect_test::expect![[r#"
        configured library missing: exit 2: error: onnx runtime: onnx runtime library /nonexistent/libonnxruntime.so (from vision.ort_library) does not exist; install it with `scripts/setup.sh base` (puts .tools/ort/libonnxruntime.so in the checkout), or copy libonnxruntime.so (1.31 or newer, from the onnxruntime PyPI wheel) next to the layerwatch binary, or set vision.ort_library / ORT_DYLIB_PATH
        ORT_DYLIB_PATH not a library: exit 2: error: onnx runtime: cannot load onnx runtime from $TMP/libonnxruntime.so (from ORT_DYLIB_PATH): failed to load from `$TMP/libonnxruntime.so`: dlopen failed; install it with `scripts/setup.sh base` (puts .tools/ort/libonnxruntime.so in the checkout), or copy libonnxruntime.so (1.31 or newer, from the onnxruntime PyPI wheel) next to the layerwatch binary, or set vision.ort_library / ORT_DYLIB_PATH
        model missing: exit 2: error: model $TMP/none.toml: cannot read: No such file or directory (os error 2)
        bad roi: exit 2: error: invalid value '0.5,0.5,0.9,0.2' for '--roi <X,Y,W,H>': must be fractions with x+w <= 1, y+h <= 1 and w, h > 0.01
        no such path: exit 2: error: $TMP/nothing-here: cannot read: No such file or directory (os error 2)
        folder without images: exit 2: error: $TMP: no images (.jpg, .jpeg, .png, .bmp, .webp, .tif, .tiff) in this folder"#]].assert_eq(&out.join("\n"));
}

/// CRC-32 as PNG uses it.
fn crc32(data: &[u8]) -> u32 {
    let mut c = 0xFFFF_FFFFu32;
    for &b in data {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
        }
    }
    c ^ 0xFFFF_FFFF
}

/// A 389-byte-class PNG whose header says `w`×`h`: every chunk well formed, the
/// pixels a few bytes of zlib (a real decoder would allocate for `w`×`h` first).
fn png_bomb(w: u32, h: u32) -> Vec<u8> {
    let mut d = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut chunk = |kind: &[u8], body: &[u8]| {
        d.extend((body.len() as u32).to_be_bytes());
        let mut c = kind.to_vec();
        c.extend(body);
        d.extend(&c);
        d.extend(crc32(&c).to_be_bytes());
    };
    let mut ihdr = w.to_be_bytes().to_vec();
    ihdr.extend(h.to_be_bytes());
    ihdr.extend([8, 2, 0, 0, 0]);
    chunk(b"IHDR", &ihdr);
    chunk(b"IDAT", &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]);
    chunk(b"IEND", &[]);
    d
}

/// Issue 13 items 3 and 4: two links `l1 -> .`, `l2 -> .` made `classify` hang and
/// `sub/loop -> ..` counted each image ~41 times; a small PNG that decodes to
/// 20000×20000 cost 1.3 GB. Now: each image once, the bomb refused from its header.
#[cfg(unix)]
#[test]
fn symlink_loops_are_walked_once_and_a_png_bomb_is_refused_undecoded() {
    use std::os::unix::fs::symlink;
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    std::fs::create_dir(t.join("sub")).unwrap();
    std::fs::copy(&samples()[0].0, t.join("a.jpg")).unwrap();
    std::fs::copy(&samples()[1].0, t.join("sub/b.jpg")).unwrap();
    std::fs::write(t.join("bomb.png"), png_bomb(20000, 20000)).unwrap();
    symlink(".", t.join("l1")).unwrap();
    symlink(".", t.join("l2")).unwrap();
    symlink("..", t.join("sub/loop")).unwrap();
    let mut c = layerwatch(&["classify", "--json", t.to_str().unwrap()]);
    c.env("RUST_LOG", "error");
    let started = std::time::Instant::now();
    let (code, out, err) = run(c);
    assert!(started.elapsed() < std::time::Duration::from_secs(60), "took {:?}", started.elapsed());
    assert_eq!(code, 1, "stderr:\n{err}");
    assert!(!err.contains("libpng"), "a raw decoder line reached stderr:\n{err}");
    let lines = json_lines(&out);
    let (summary, images) = lines.split_last().unwrap();
    let mut names: Vec<String> =
        images.iter().map(|l| l["path"].as_str().unwrap().replace(&t.display().to_string(), "$TMP")).collect();
    names.sort();
    assert_eq!(names, ["$TMP/a.jpg", "$TMP/bomb.png", "$TMP/sub/b.jpg"]);
    let bomb = images.iter().find(|l| l["path"].as_str().unwrap().ends_with("bomb.png")).unwrap();
    assert_eq!(bomb["error_kind"], "bad_size", "{bomb}");
    expect_test::expect![[r#"PNG image is 20000x20000 = 400000000 pixels, over the limit of 50000000 pixels; not decoded (a larger limit is `camera.max_pixels` or `--max-pixels`)"#]]
        .assert_eq(bomb["error"].as_str().unwrap());
    assert_eq!((summary["images"].as_u64(), summary["decoded"].as_u64()), (Some(3), Some(2)));

    // A lower limit on the command line refuses the camera-sized sample too.
    let (code, out, _) = run(layerwatch(&["classify", "--json", "--max-pixels", "4096", t.join("a.jpg").to_str().unwrap()]));
    assert_eq!(code, 1);
    assert_eq!(json_lines(&out)[0]["error_kind"], "bad_size", "{out}");
}
