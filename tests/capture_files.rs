//! Replay sources on real files made in the test: an MJPG AVI written with
//! OpenCV's VideoWriter, an H.264 MP4 made with ffmpeg, and image folders
//! (with a broken file, a PNG, and `frames.csv` timestamps).

mod capture_support;

use std::path::Path;
use std::time::Duration;

use capture_support::*;
use layerwatch::capture::{
    self, CaptureError, FolderOptions, FolderSource, FrameSource, OpenCvSource, PumpConfig, PumpExit, SourceKind,
};
use layerwatch::domain::{Frame, FrameImage, RgbImage};
use opencv::core::{CV_8UC3, Mat, Scalar, Size};
use opencv::prelude::*;
use opencv::videoio::VideoWriter;
use tokio_util::sync::CancellationToken;

/// Frame `i` is a flat BGR colour with red = 10·i, so order and channel order can be checked.
fn colour_frame(i: usize, w: i32, h: i32) -> Mat {
    Mat::new_rows_cols_with_default(h, w, CV_8UC3, Scalar::new(20.0, 120.0, 10.0 * i as f64, 0.0)).unwrap()
}

fn write_mjpg_avi(path: &Path, n: usize, fps: f64) {
    let fourcc = VideoWriter::fourcc('M', 'J', 'P', 'G').unwrap();
    let mut w = VideoWriter::new(path, fourcc, fps, Size::new(160, 120), true).unwrap();
    assert!(w.is_opened().unwrap(), "OpenCV cannot write {}", path.display());
    for i in 0..n {
        w.write(&colour_frame(i, 160, 120)).unwrap();
    }
    w.release().unwrap();
}

fn rgb(f: &Frame) -> &RgbImage {
    match &f.image {
        FrameImage::Rgb(r) => r,
        FrameImage::Jpeg(_) => panic!("video frames are decoded to RGB"),
    }
}

/// Reads `src` to its end; returns the frames.
async fn read_all(src: &mut dyn FrameSource) -> Vec<Frame> {
    let mut out = vec![];
    loop {
        match within(20, "the next frame or the end", src.next_frame()).await {
            Ok(f) => out.push(f),
            Err(CaptureError::Ended) => return out,
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
}

#[tokio::test]
async fn mjpg_avi_is_read_to_the_end_in_order_as_rgb() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("print.avi");
    write_mjpg_avi(&path, 24, 12.0);
    let mut src = OpenCvSource::video_file("video", &path, false, false).unwrap();
    let frames = read_all(&mut src).await;
    assert_eq!(frames.len(), 24);
    for (i, f) in frames.iter().enumerate() {
        let img = rgb(f);
        assert_eq!((f.seq, img.width, img.height), (i as u64, 160, 120));
        let px = &img.data[..3];
        assert!((i32::from(px[0]) - 10 * i as i32).abs() <= 4, "frame {i}: red {px:?}");
        assert!((i32::from(px[1]) - 120).abs() <= 4 && (i32::from(px[2]) - 20).abs() <= 4, "frame {i}: {px:?}");
    }
    // Recorded frame times: exactly 1/12 s apart.
    let t: Vec<i64> = frames.iter().map(|f| f.captured_at.millis() - frames[0].captured_at.millis()).collect();
    assert_eq!(t[1], 83);
    assert_eq!(t[23], 1917);
    assert_eq!(src.stats().bad_frames(), 0);
}

#[tokio::test]
async fn h264_mp4_from_ffmpeg_is_read_to_the_end() {
    let ffmpeg = system_tool("ffmpeg");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("print.mp4");
    let out = std::process::Command::new(ffmpeg)
        .args(["-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=10"])
        .args(["-frames:v", "30", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-y"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success(), "ffmpeg failed: {}", String::from_utf8_lossy(&out.stderr));
    let mut src = OpenCvSource::video_file("video", &path, false, false).unwrap();
    let frames = read_all(&mut src).await;
    assert_eq!(frames.len(), 30);
    assert!(frames.iter().all(|f| (rgb(f).width, rgb(f).height) == (160, 120)));
    let last = frames[29].captured_at.millis() - frames[0].captured_at.millis();
    assert_eq!(last, 2900, "10 fps");
}

#[tokio::test]
async fn paced_playback_takes_the_recorded_time_and_loops_continue_the_clock() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("short.avi");
    write_mjpg_avi(&path, 5, 20.0);
    let mut src = OpenCvSource::video_file("video", &path, true, true).unwrap();
    let t0 = tokio::time::Instant::now();
    let mut frames = vec![];
    for _ in 0..12 {
        frames.push(within(10, "a looped frame", src.next_frame()).await.unwrap());
    }
    assert!(t0.elapsed() >= Duration::from_millis(11 * 50 - 5), "paced at 20 fps: {:?}", t0.elapsed());
    assert_eq!(frames.iter().map(|f| f.seq).collect::<Vec<_>>(), (0..12).collect::<Vec<u64>>());
    let t: Vec<i64> = frames.iter().map(|f| f.captured_at.millis() - frames[0].captured_at.millis()).collect();
    assert_eq!(t, [0, 50, 100, 150, 200, 250, 300, 350, 400, 450, 500, 550]);
    let red = |f: &Frame| i32::from(rgb(f).data[0]);
    assert!((red(&frames[7]) - red(&frames[2])).abs() <= 4, "second pass replays the file");
}

#[tokio::test]
async fn missing_and_unreadable_videos_fail_cleanly() {
    let e = OpenCvSource::video_file("video", Path::new("/nonexistent/print.mp4"), false, false).unwrap_err();
    assert_eq!(e.to_string(), "video: video file /nonexistent/print.mp4 does not exist");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("garbage.mp4");
    std::fs::write(&path, b"this is not a video at all").unwrap();
    let mut src = OpenCvSource::video_file("video", &path, false, false).unwrap();
    let e = within(10, "an error", src.next_frame()).await.unwrap_err();
    assert!(e.to_string().starts_with("video: cannot open video file"), "{e}");
}

#[tokio::test]
async fn video_through_the_pump_ends_with_ended() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("print.avi");
    write_mjpg_avi(&path, 8, 25.0);
    let cfg = capture::CameraConfig { source: SourceKind::Video, path, pace: false, ..Default::default() };
    let h = capture::spawn(capture::build_source(&cfg).unwrap(), PumpConfig::every_frame(16), CancellationToken::new());
    let mut n = 0;
    while h.next().await.is_some() {
        n += 1;
    }
    assert_eq!(n, 8);
    assert!(matches!(h.join().await, PumpExit::Ended));
}

fn folder_opts(pace: bool) -> FolderOptions {
    FolderOptions::new(pace, 10.0, false)
}

#[tokio::test]
async fn folder_replays_in_natural_order_and_skips_bad_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let jpg = |i| encode(&numbered_image(i, 64, 48), ".jpg");
    std::fs::write(d.join("frame_1.jpg"), jpg(1)).unwrap();
    std::fs::write(d.join("frame_2.jpg"), jpg(2)).unwrap();
    let cut = jpg(3);
    std::fs::write(d.join("frame_3.jpg"), &cut[..cut.len() / 2]).unwrap();
    std::fs::write(d.join("frame_4.png"), encode(&numbered_image(4, 64, 48), ".png")).unwrap();
    std::fs::write(d.join("frame_5.JPEG"), jpg(5)).unwrap();
    std::fs::write(d.join("frame_10.jpg"), jpg(10)).unwrap();
    std::fs::write(d.join("notes.txt"), "not an image").unwrap();
    let mut src = FolderSource::open("replay", d, folder_opts(false)).unwrap();
    let names: Vec<_> =
        src.entries().iter().map(|e| e.path.file_name().unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(names, ["frame_1.jpg", "frame_2.jpg", "frame_3.jpg", "frame_4.png", "frame_5.JPEG", "frame_10.jpg"]);
    let frames = read_all(&mut src).await;
    let got: Vec<(u64, &str)> =
        frames.iter().map(|f| (f.seq, if matches!(f.image, FrameImage::Jpeg(_)) { "jpeg" } else { "rgb" })).collect();
    assert_eq!(got, [(0, "jpeg"), (1, "jpeg"), (3, "rgb"), (4, "jpeg"), (5, "jpeg")], "seq is the file's position");
    if let FrameImage::Jpeg(b) = &frames[0].image {
        assert_eq!(&b[..], &jpg(1)[..], "JPEG bytes are passed on untouched");
    }
    assert_eq!((rgb(&frames[2]).width, rgb(&frames[2]).height), (64, 48));
    let s = src.stats();
    assert_eq!(s.bad_frames(), 1);
    assert!(s.last_error().unwrap().message.contains("frame_3.jpg: truncated JPEG"), "{:?}", s.last_error());
    // Without frames.csv, frames are 1/fps apart from the start of the replay.
    assert_eq!(frames[4].captured_at.millis() - frames[0].captured_at.millis(), 500);
}

/// Issue 13 item 4: the folder camera decoded any PNG, whatever its size. Now
/// the header is read first: over `max_pixels` it is a bad frame, never decoded;
/// BMP, WebP and TIFF go through the same check and decoder as PNG.
#[tokio::test]
async fn folder_refuses_oversized_images_from_their_header() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("a.png"), encode(&numbered_image(1, 64, 48), ".png")).unwrap();
    std::fs::write(d.join("b.bmp"), encode(&numbered_image(2, 64, 48), ".bmp")).unwrap();
    std::fs::write(d.join("c.webp"), encode(&numbered_image(3, 64, 48), ".webp")).unwrap();
    std::fs::write(d.join("d.tif"), encode(&numbered_image(4, 64, 48), ".tiff")).unwrap();
    std::fs::write(d.join("e.png"), encode(&numbered_image(5, 80, 60), ".png")).unwrap();
    std::fs::write(d.join("f.jpg"), encode(&numbered_image(6, 80, 60), ".jpg")).unwrap();
    let opts = FolderOptions { max_pixels: 64 * 48, ..folder_opts(false) };
    let mut src = FolderSource::open("replay", d, opts).unwrap();
    let frames = read_all(&mut src).await;
    let got: Vec<u64> = frames.iter().map(|f| f.seq).collect();
    assert_eq!(got, [0, 1, 2, 3], "the 80x60 PNG and JPEG are over 3072 pixels");
    assert_eq!(src.stats().bad_frames(), 2);
    let e = src.stats().last_error().unwrap().message;
    assert!(e.contains("f.jpg: JPEG image is 80x60 = 4800 pixels, over the limit of 3072 pixels"), "{e}");
}

#[tokio::test]
async fn frames_csv_gives_recorded_times_and_pacing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for i in 0..3 {
        std::fs::write(d.join(format!("{i}.jpg")), encode(&numbered_image(i, 64, 48), ".jpg")).unwrap();
    }
    std::fs::write(
        d.join("frames.csv"),
        "file,timestamp_ms\n0.jpg,1700000000000\n1.jpg,1700000000120\nbad-row\nmissing.jpg,1700000000200\n\
         2.jpg,1700000000300\n",
    )
    .unwrap();
    let mut src = FolderSource::open("replay", d, folder_opts(true)).unwrap();
    let t0 = tokio::time::Instant::now();
    let frames = read_all(&mut src).await;
    assert!(t0.elapsed() >= Duration::from_millis(295), "paced by the recorded times: {:?}", t0.elapsed());
    let got: Vec<(u64, i64)> = frames.iter().map(|f| (f.seq, f.captured_at.millis())).collect();
    assert_eq!(got, [(0, 1_700_000_000_000), (1, 1_700_000_000_120), (3, 1_700_000_000_300)]);
    assert_eq!(src.stats().bad_frames(), 2, "the bad row and the missing file");
}

#[tokio::test]
async fn an_empty_folder_ends_at_once_and_a_missing_one_is_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let mut src = FolderSource::open("replay", dir.path(), folder_opts(true)).unwrap();
    assert!(matches!(src.next_frame().await, Err(CaptureError::Ended)));
    let cfg = capture::CameraConfig { source: SourceKind::Folder, path: dir.path().join("nope"), ..Default::default() };
    let e = capture::build_source(&cfg).err().expect("a missing folder is an error");
    assert!(e.to_string().starts_with("camera: cannot list folder"), "{e}");
}
