//! Time-lapse encoding on this machine's real encoders: OpenCV's `VideoWriter`
//! (through Debian's FFmpeg backend) and the `ffmpeg` program where installed.
//! Each MP4 is read back with OpenCV's `VideoCapture` (frame count, size) and
//! checked with `ffprobe` where installed.

use std::path::{Path, PathBuf};
use std::process::Command;

use layerwatch::timelapse::{EncoderChoice, Library, Spool, encode};
use opencv::core::{Mat, MatTraitConst, Scalar, Vector};
use opencv::prelude::{VectorToVec, VideoCaptureTrait, VideoCaptureTraitConst};
use opencv::{imgcodecs, videoio};

/// A JPEG of `w`×`h` in one colour.
fn jpeg(w: i32, h: i32, shade: f64) -> Vec<u8> {
    let m = Mat::new_rows_cols_with_default(h, w, opencv::core::CV_8UC3, Scalar::new(shade, 255.0 - shade, 80.0, 0.0))
        .unwrap();
    let mut buf = Vector::<u8>::new();
    imgcodecs::imencode(".jpg", &m, &mut buf, &Vector::new()).unwrap();
    buf.to_vec()
}

/// Frames counted by decoding the whole file, and the size of the first.
fn read_back(path: &Path) -> (u32, (i32, i32)) {
    let mut cap = videoio::VideoCapture::from_file(path.to_str().unwrap(), videoio::CAP_FFMPEG).unwrap();
    assert!(cap.is_opened().unwrap(), "OpenCV cannot open {}", path.display());
    let (mut n, mut size) = (0, (0, 0));
    let mut m = Mat::default();
    while cap.read(&mut m).unwrap() && !m.empty() {
        if n == 0 {
            size = (m.cols(), m.rows());
        }
        n += 1;
    }
    (n, size)
}

/// `ffprobe`'s count of decoded frames and codec name, where it is installed.
fn ffprobe(path: &Path) -> Option<(u32, String)> {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-select_streams", "v:0"])
        .args(["-show_entries", "stream=nb_read_frames,codec_name", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .ok()?;
    assert!(out.status.success(), "ffprobe: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let (codec, frames) = text.split_once(',').unwrap_or_else(|| panic!("ffprobe said {text:?}"));
    Some((frames.parse().unwrap(), codec.to_string()))
}

/// Nine frames: one 640×480, one corrupt, one 320×240, six more 640×480.
fn frames(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for i in 0..9 {
        let p = dir.join(format!("{i:08}.jpg"));
        let bytes = match i {
            1 => b"\xff\xd8 not a jpeg".to_vec(),
            2 => jpeg(320, 240, 20.0 * i as f64),
            _ => jpeg(640, 480, 20.0 * i as f64),
        };
        std::fs::write(&p, bytes).unwrap();
        out.push(p);
    }
    out
}

#[test]
fn opencv_writes_an_mp4_that_reads_back_with_every_good_frame() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("1.mp4");
    let e = encode::encode(&frames(dir.path()), &out, 10, EncoderChoice::Opencv).unwrap();
    assert_eq!((e.frames, e.skipped), (8, 1), "{e:?}");
    assert!(e.codec == "opencv/avc1" || e.codec == "opencv/mp4v", "{e:?}");
    assert!(e.bytes > 1_000 && e.bytes == std::fs::metadata(&out).unwrap().len(), "{e:?}");
    assert!(!dir.path().join("1.tmp.mp4").exists(), "the temporary file was renamed");
    assert_eq!(read_back(&out), (8, (640, 480)), "{e:?}");
    if let Some((n, codec)) = ffprobe(&out) {
        assert_eq!(n, 8);
        println!("OpenCV time-lapse: {} ({codec}), {} bytes, 8 frames (VideoCapture and ffprobe)", e.codec, e.bytes);
    }
}

#[test]
fn ffmpeg_writes_h264_where_installed() {
    if !encode::ffmpeg_installed() {
        eprintln!("ffmpeg is not installed: skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("2.mp4");
    let e = encode::encode(&frames(dir.path()), &out, 10, EncoderChoice::Ffmpeg).unwrap();
    assert_eq!((e.frames, e.skipped, e.codec.as_str()), (8, 1, "ffmpeg/libx264"), "{e:?}");
    assert_eq!(read_back(&out), (8, (640, 480)));
    if let Some((n, codec)) = ffprobe(&out) {
        assert_eq!((n, codec.as_str()), (8, "h264"));
    }
}

#[test]
fn nothing_decodable_is_an_error_naming_the_folder_and_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("00000000.jpg");
    std::fs::write(&bad, b"garbage").unwrap();
    for choice in [EncoderChoice::Opencv, EncoderChoice::Auto] {
        let out = dir.path().join("3.mp4");
        let err = encode::encode(std::slice::from_ref(&bad), &out, 10, choice).unwrap_err();
        assert!(err.to_string().contains(&dir.path().display().to_string()), "{err}");
        assert!(!out.exists() && !dir.path().join("3.tmp.mp4").exists());
    }
}

#[test]
fn finishing_a_print_encodes_its_spool_removes_the_frames_and_retention_applies() {
    let dir = tempfile::tempdir().unwrap();
    let lib = Library::new(dir.path());
    lib.prepare().unwrap();
    std::fs::write(lib.root().join("9.tmp.mp4"), b"half").unwrap();
    lib.prepare().unwrap();
    assert!(!lib.root().join("9.tmp.mp4").exists(), "a half-written video is removed at start");
    for print in [1, 2, 3] {
        let mut s = Spool::open(&lib, print, 4).unwrap();
        for i in 0..6 {
            s.add(&jpeg(160, 120, f64::from(i) * 30.0)).unwrap();
        }
        assert_eq!(s.len(), 3, "6 layers with max 4: every second one");
    }
    assert_eq!(lib.spools().unwrap(), [1, 2, 3]);
    for print in [1, 2, 3] {
        let e = lib.finish(print, 5, EncoderChoice::Opencv).unwrap().unwrap();
        assert_eq!(e.frames, 3);
        assert_eq!(read_back(&lib.video(print)).0, 3);
    }
    assert!(lib.spools().unwrap().is_empty(), "frames removed after encoding");
    assert!(lib.finish(4, 5, EncoderChoice::Opencv).unwrap().is_none(), "no frames, no video");
    let limits = layerwatch::timelapse::Limits { max_count: 2, max_bytes: 0, max_age_ms: 0 };
    let now = layerwatch::domain::Timestamp::now();
    let deleted = lib.enforce(limits, now).unwrap();
    assert_eq!(deleted.len(), 1, "{deleted:?}");
    assert_eq!(lib.videos().unwrap().len(), 2);
}
