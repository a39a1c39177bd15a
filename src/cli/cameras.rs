//! `layerwatch cameras [--json]`: lists the V4L2/UVC cameras on this machine
//! with the modes they offer, to help fill in `[camera]`.

use std::fmt::Write as _;
use std::process::ExitCode;

use crate::capture::v4l2::{self, DeviceInfo};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print the list as JSON.
    #[arg(long)]
    pub json: bool,
    /// Do not open the devices to read their formats.
    #[arg(long)]
    pub no_formats: bool,
}

pub async fn run(args: Args, global: &super::Global) -> anyhow::Result<ExitCode> {
    crate::telemetry::init(if global.verbose > 0 { "debug" } else { "warn" }, crate::config::LogFormat::Text);
    let no_formats = args.no_formats;
    let devices = tokio::task::spawn_blocking(move || {
        let mut d = v4l2::list_devices();
        if no_formats {
            for dev in &mut d {
                dev.formats.clear();
                dev.formats_error = None;
            }
        }
        d
    })
    .await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&devices)?);
    } else {
        print!("{}", render(&devices));
    }
    Ok(ExitCode::SUCCESS)
}

/// The human-readable listing.
pub fn render(devices: &[DeviceInfo]) -> String {
    if devices.is_empty() {
        return "no V4L2 cameras found (no /dev/video* devices)\n".to_string();
    }
    let mut out = String::new();
    for d in devices {
        let _ = writeln!(out, "{}  {}  {}", d.index, d.path.display(), d.name);
        if let Some(e) = &d.formats_error {
            let _ = writeln!(out, "    formats unavailable: {e}");
        }
        // One line per pixel format: sizes with their frame rates, largest first.
        let mut fourccs: Vec<&str> = d.formats.iter().map(|f| f.fourcc.as_str()).collect();
        fourccs.dedup();
        for cc in fourccs {
            let mut modes: Vec<String> = vec![];
            for f in d.formats.iter().filter(|f| f.fourcc == cc) {
                let size = format!("{}x{}", f.width, f.height);
                match modes.last_mut() {
                    Some(last) if last.starts_with(&format!("{size}@")) => {
                        let _ = write!(last, ",{}", f.fps);
                    }
                    _ => modes.push(format!("{size}@{}", f.fps)),
                }
            }
            let _ = writeln!(out, "    {cc:<6} {}", modes.join("  "));
        }
    }
    out.push_str("use: [camera] source = \"v4l2\", device = \"<index or path>\"\n");
    out
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use super::*;
    use crate::capture::v4l2::DeviceFormat;

    #[test]
    fn listing_groups_modes_by_format() {
        let f = |cc: &str, w, h, fps| DeviceFormat { fourcc: cc.into(), width: w, height: h, fps };
        let devices = vec![
            DeviceInfo {
                index: 0,
                path: "/dev/video0".into(),
                name: "HD Pro Webcam C920".into(),
                description: "uvcvideo".into(),
                formats: vec![
                    f("MJPEG", 1920, 1080, 30),
                    f("MJPEG", 1280, 720, 30),
                    f("MJPEG", 1280, 720, 15),
                    f("YUYV", 640, 480, 30),
                ],
                formats_error: None,
            },
            DeviceInfo {
                index: 1,
                path: "/dev/video1".into(),
                name: "HD Pro Webcam C920".into(),
                description: "uvcvideo".into(),
                formats: vec![],
                formats_error: Some("not a capture device".into()),
            },
        ];
        expect![[r#"
            0  /dev/video0  HD Pro Webcam C920
                MJPEG  1920x1080@30  1280x720@30,15
                YUYV   640x480@30
            1  /dev/video1  HD Pro Webcam C920
                formats unavailable: not a capture device
            use: [camera] source = "v4l2", device = "<index or path>"
        "#]]
        .assert_eq(&render(&devices));
        assert_eq!(render(&[]), "no V4L2 cameras found (no /dev/video* devices)\n");
    }
}
