//! `layerwatch doctor`: whether this set-up will work, in one command. It
//! checks what `run` needs, in the order it needs it, and says plainly what
//! is wrong and how to fix it: the config and every path in it, the ONNX
//! Runtime library and the model (one inference), a frame from the camera
//! (its size and brightness, and with a calibrated camera whether the print area
//! is in view, lit and not blank), the printer link (connected, its state, what
//! layerwatch can command), the light (`[printer.light]`: switched on and off
//! once only with `--send`), each alert channel (a test message only with
//! `--send`), the time-lapse (a trial MP4 with the chosen encoder), MQTT, and
//! disk space for the store. The exit code is 0 when
//! nothing failed (warnings allowed), 1 otherwise.

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::domain::{FrameImage, PrinterState};
use crate::printer::PrinterKind;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Send a test message to every alert channel (without it, channels are only listed).
    #[arg(long)]
    pub send: bool,
    /// How long to wait for the camera's first frame and the printer's first answer, in seconds.
    #[arg(long, default_value_t = 15)]
    pub timeout_s: u64,
}

/// How one check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verdict {
    Ok,
    Warn,
    Fail,
}

/// One line of the report, with what to do about it.
#[derive(Debug, Clone)]
pub struct Finding {
    pub verdict: Verdict,
    pub what: String,
    pub detail: String,
    pub fix: Option<String>,
}

fn ok(what: &str, detail: impl Into<String>) -> Finding {
    Finding { verdict: Verdict::Ok, what: what.into(), detail: detail.into(), fix: None }
}

fn warn(what: &str, detail: impl Into<String>, fix: impl Into<String>) -> Finding {
    Finding { verdict: Verdict::Warn, what: what.into(), detail: detail.into(), fix: Some(fix.into()) }
}

fn fail(what: &str, detail: impl Into<String>, fix: impl Into<String>) -> Finding {
    Finding { verdict: Verdict::Fail, what: what.into(), detail: detail.into(), fix: Some(fix.into()) }
}

pub async fn run(args: Args, global: &super::Global) -> anyhow::Result<ExitCode> {
    let cfg = match global.load_config() {
        Ok(c) => c,
        Err(e) => {
            println!("FAIL  config        {e:#}");
            println!("      fix: correct the file; `layerwatch validate-config` lists every problem at once");
            println!("not ready");
            return Ok(ExitCode::from(1));
        }
    };
    let where_ = global.config.as_ref().map_or("built-in defaults".to_string(), |p| p.display().to_string());
    println!("layerwatch doctor: {where_}");
    let timeout = Duration::from_secs(args.timeout_s.max(1));
    let mut all = Vec::new();
    for section in [
        paths(&cfg),
        vision_and_camera(&cfg, timeout).await,
        printer(&cfg, timeout, args.send).await,
        alerts(&cfg, args.send).await,
        timelapse(&cfg).await,
        mqtt(&cfg, timeout, args.send).await,
        vec![disk(&cfg)],
    ] {
        for f in &section {
            print_finding(f);
        }
        all.extend(section);
    }
    let worst = all.iter().map(|f| f.verdict).max().unwrap_or(Verdict::Ok);
    let (fails, warns) = (
        all.iter().filter(|f| f.verdict == Verdict::Fail).count(),
        all.iter().filter(|f| f.verdict == Verdict::Warn).count(),
    );
    Ok(match worst {
        Verdict::Fail => {
            println!("not ready: {fails} problem(s) to fix, {warns} warning(s)");
            ExitCode::from(1)
        }
        _ => {
            println!("ready{}", if warns > 0 { format!(", with {warns} warning(s)") } else { String::new() });
            ExitCode::SUCCESS
        }
    })
}

fn print_finding(f: &Finding) {
    let tag = match f.verdict {
        Verdict::Ok => "ok  ",
        Verdict::Warn => "warn",
        Verdict::Fail => "FAIL",
    };
    println!("{tag}  {:<12}  {}", f.what, f.detail);
    if let Some(fix) = &f.fix {
        println!("      {:<12}  fix: {fix}", "");
    }
}

/// The file's own validity was checked by loading it; now what `run` needs from the machine.
fn paths(cfg: &Config) -> Vec<Finding> {
    let issues = crate::app::preflight::check(cfg);
    if issues.is_empty() {
        return vec![ok("config", "valid; every file, folder and device it names is usable")];
    }
    issues
        .iter()
        .map(|i| fail("config", i.to_string(), "give a path that exists and this user may read (or write, for data)"))
        .collect()
}

async fn vision_and_camera(cfg: &Config, timeout: Duration) -> Vec<Finding> {
    let mut out = Vec::new();
    let vision = cfg.vision.clone();
    let started = Instant::now();
    let classifier = tokio::task::spawn_blocking(move || crate::vision::OnnxClassifier::from_config(&vision)).await;
    let mut classifier = match classifier {
        Ok(Ok(c)) => {
            out.push(ok("model", format!("loaded with ONNX Runtime in {} ms", started.elapsed().as_millis())));
            Some(c)
        }
        Ok(Err(e)) => {
            out.push(fail(
                "model",
                e.to_string(),
                "run `scripts/setup.sh base`, or set [vision] ort_library / model to files that exist",
            ));
            None
        }
        Err(e) => {
            out.push(fail("model", format!("loading crashed: {e}"), "report this as a bug"));
            None
        }
    };
    let mut source = match crate::capture::build_source(&cfg.camera) {
        Ok(s) => s,
        Err(e) => {
            out.push(fail("camera", e.to_string(), "check [camera] (source, url, device, path)"));
            return out;
        }
    };
    let started = Instant::now();
    let frame = match tokio::time::timeout(timeout, source.next_frame()).await {
        Err(_) => {
            out.push(fail(
                "camera",
                format!("{:?}: no frame within {} s", cfg.camera.name, timeout.as_secs()),
                "is the camera on and its URL or device right? `layerwatch cameras` lists local ones",
            ));
            return out;
        }
        Ok(Err(e)) => {
            out.push(fail("camera", format!("{:?}: {e}", cfg.camera.name), "check [camera] and the camera itself"));
            return out;
        }
        Ok(Ok(f)) => f,
    };
    let size = match &frame.image {
        FrameImage::Jpeg(b) => {
            crate::images::check_header(b, u64::MAX).map(|h| format!("{}x{}", h.width, h.height)).unwrap_or_default()
        }
        FrameImage::Rgb(i) => format!("{}x{}", i.width, i.height),
    };
    let took = started.elapsed().as_millis();
    if let Some(path) = &cfg.camera.geometry {
        out.push(print_area(path, &frame.image, cfg.decision.health.dark_brightness));
    }
    let Some(c) = classifier.as_mut() else {
        out.push(ok("camera", format!("{:?}: a {size} frame in {took} ms", cfg.camera.name)));
        return out;
    };
    use crate::vision::Classifier as _;
    match c.classify(&frame) {
        Err(e) => out.push(fail(
            "camera",
            format!("{:?}: a {size} frame that the model cannot use: {e}", cfg.camera.name),
            "check the camera's format (JPEG or raw frames) and [camera] max_pixels",
        )),
        Ok(s) => {
            let detail = format!(
                "{:?}: a {size} frame in {took} ms; brightness {:.0}/255; failure score {:.2} (model: {:.0} ms)",
                cfg.camera.name, s.brightness, s.scores.failure, s.latency_ms
            );
            let dark = cfg.decision.health.dark_brightness;
            if s.brightness.is_nan() || s.brightness < dark {
                out.push(warn(
                    "camera",
                    format!("{detail}: too dark to judge (below decision.health.dark_brightness = {dark})"),
                    "light the print area while printing; dark frames are never judged, and a dark camera \
                     during a print raises \"can't see the print\"",
                ));
            } else {
                out.push(ok("camera", detail));
            }
        }
    }
    out
}

/// Below this share of the frame, the whole bed is so small that parts are a few pixels.
const MIN_BED_SHARE: f64 = 0.03;
/// Below this spread of grey levels the print area has no texture (a covered lens, no focus).
const MIN_AREA_CONTRAST: f64 = 2.0;

/// With a calibrated camera (`camera.geometry`): does this frame show the print
/// area? The frame must have the calibrated size, and the bed's projection must
/// be big enough, lit, and not blank.
fn print_area(path: &Path, image: &FrameImage, dark: f32) -> Finding {
    const WHAT: &str = "print area";
    let recalibrate = "calibrate again for this camera and position (`layerwatch calibrate solve`)";
    let file = match std::fs::read_to_string(path) {
        Err(e) => {
            return fail(WHAT, format!("{}: {e}", path.display()), "give camera.geometry a file this user can read");
        }
        Ok(text) => match crate::geometry::CameraFile::parse(&text, &path.display().to_string()) {
            Ok(f) => f,
            Err(e) => return fail(WHAT, e.to_string(), recalibrate),
        },
    };
    let (cw, ch) = (file.frame.width, file.frame.height);
    let camera = file.camera();
    let corners: Vec<[f64; 2]> = file.bed.corners().iter().filter_map(|c| camera.project(*c)).collect();
    if corners.len() < 4 {
        return fail(WHAT, format!("{}: the bed does not project into the frame", path.display()), recalibrate);
    }
    // Judge on a small grey copy (the geometry checks' own reader).
    let mw = 160u32.min(cw.max(1));
    let mh = ((f64::from(ch) * f64::from(mw) / f64::from(cw.max(1))).round() as u32).max(1);
    let grey = match crate::vision::grey_for_checks(image, (cw, ch), (mw, mh)) {
        Ok(g) => g,
        Err(e) => {
            return fail(
                WHAT,
                format!("{}: {e}", path.display()),
                format!("set the camera back to {cw}x{ch}, or {recalibrate}"),
            );
        }
    };
    let (sx, sy) = (f64::from(grey.width) / f64::from(cw), f64::from(grey.height) / f64::from(ch));
    let poly: Vec<[f64; 2]> = corners.iter().map(|p| [p[0] * sx, p[1] * sy]).collect();
    let (mut n, mut sum, mut sum2) = (0u64, 0f64, 0f64);
    for y in 0..grey.height {
        for x in 0..grey.width {
            if inside(&poly, [f64::from(x) + 0.5, f64::from(y) + 0.5]) {
                let v = f64::from(grey.data[(y * grey.width + x) as usize]);
                n += 1;
                sum += v;
                sum2 += v * v;
            }
        }
    }
    let share = n as f64 / (f64::from(grey.width) * f64::from(grey.height));
    let (xs, ys) = (corners.iter().map(|p| p[0]), corners.iter().map(|p| p[1]));
    let (x0, x1) = (xs.clone().fold(f64::INFINITY, f64::min), xs.fold(f64::NEG_INFINITY, f64::max));
    let (y0, y1) = (ys.clone().fold(f64::INFINITY, f64::min), ys.fold(f64::NEG_INFINITY, f64::max));
    let mean = if n > 0 { sum / n as f64 } else { 0.0 };
    let spread = if n > 0 { (sum2 / n as f64 - mean * mean).max(0.0).sqrt() } else { 0.0 };
    let detail = format!(
        "the bed projects to x {x0:.0}..{x1:.0}, y {y0:.0}..{y1:.0} px ({:.0} % of the frame); there brightness {mean:.0}/255, contrast {spread:.1}",
        share * 100.0
    );
    if share < MIN_BED_SHARE {
        warn(
            WHAT,
            format!("{detail}: the bed is very small in the frame"),
            "move the camera closer to the bed, then calibrate again",
        )
    } else if mean < f64::from(dark) {
        warn(
            WHAT,
            format!("{detail}: too dark to judge (below decision.health.dark_brightness = {dark})"),
            "light the bed while printing ([printer.light] can switch the printer's light on)",
        )
    } else if spread < MIN_AREA_CONTRAST {
        warn(WHAT, format!("{detail}: it looks blank"), "is the lens covered, fogged or out of focus?")
    } else {
        ok(WHAT, detail)
    }
}

/// Point in polygon (even-odd rule).
fn inside(poly: &[[f64; 2]], p: [f64; 2]) -> bool {
    let mut hit = false;
    let mut j = poly.len() - 1;
    for i in 0..poly.len() {
        let (a, b) = (poly[i], poly[j]);
        if (a[1] > p[1]) != (b[1] > p[1]) && p[0] < (b[0] - a[0]) * (p[1] - a[1]) / (b[1] - a[1]) + a[0] {
            hit = !hit;
        }
        j = i;
    }
    hit
}

async fn printer(cfg: &Config, timeout: Duration, send: bool) -> Vec<Finding> {
    if cfg.printer.kind == PrinterKind::None {
        return vec![warn(
            "printer",
            "none configured: alerts only, nothing can pause a print",
            "set [printer] kind to marlin, octoprint or moonraker",
        )];
    }
    let name = crate::app::printer::describe(&cfg.printer);
    let cancel = CancellationToken::new();
    let _stop = cancel.clone().drop_guard();
    let link: std::sync::Arc<dyn crate::printer::PrinterLink> = if cfg.printer.kind == PrinterKind::Marlin {
        crate::printer::marlin::MarlinLink::open(&cfg.printer, cancel.child_token())
    } else {
        match crate::printer::connect(&cfg.printer, cancel.child_token()) {
            Ok(l) => l,
            Err(e) => return vec![fail("printer", format!("{name}: {e}"), "check [printer] (url, api_key)")],
        }
    };
    let mut rx = link.status();
    let wait = rx.wait_for(|s| !matches!(s.state, PrinterState::Disconnected));
    let status = match tokio::time::timeout(timeout, wait).await {
        Ok(Ok(s)) => s.clone(),
        _ => {
            return vec![fail(
                "printer",
                format!("{name}: no answer within {} s", timeout.as_secs()),
                "is the printer (or its host) on and reachable? `layerwatch printer status` shows the link's errors",
            )];
        }
    };
    let state = crate::cli::printer::describe(&status);
    let mut can = vec!["pause", "resume", "cancel", "park", "cool down"];
    if cfg.printer.kind == PrinterKind::Marlin && cfg.printer.serial.mode == crate::printer::SerialMode::Host {
        can.push("print files");
    }
    let mut out = vec![
        ok("printer", format!("{name}: {state}")),
        ok(
            "printer",
            format!(
                "layerwatch can {}; each command is confirmed from the printer's own state. \
                 Cancelling one object is not supported yet: a failure pauses the whole print",
                can.join(", ")
            ),
        ),
    ];
    out.extend(light(&cfg.printer.light, link.as_ref(), send).await);
    out
}

/// `[printer.light]`: listed, or with `--send` switched on and off once.
async fn light(
    cfg: &crate::printer::light::LightConfig,
    link: &dyn crate::printer::PrinterLink,
    send: bool,
) -> Vec<Finding> {
    if !cfg.enabled() {
        return Vec::new();
    }
    if cfg.method == crate::printer::light::LightMethod::Mqtt {
        let how = if send {
            "switched on and off in the MQTT check below"
        } else {
            "add --send to switch it on and off once"
        };
        return vec![ok("light", format!("mqtt (topic {:?}), {:?} ({how})", cfg.mqtt_topic, cfg.when))];
    }
    let what = format!("{} ({})", cfg.method.name(), cfg.lines(true).join("; "));
    if !send {
        return vec![ok("light", format!("{what}, {:?} (add --send to switch it on and off once)", cfg.when))];
    }
    for on in [true, false] {
        if let Err(e) = link.run_gcode("light", &cfg.lines(on)).await {
            return vec![fail(
                "light",
                format!("switching it {}: {e}", if on { "on" } else { "off" }),
                "check [printer.light]: Marlin needs CASE_LIGHT_ENABLE for M355, Klipper an [output_pin] of that name",
            )];
        }
        if on {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
    vec![ok("light", format!("{what}: switched on and off, both confirmed by the printer"))]
}

/// `[timelapse]`: the videos' folder can be made, and the chosen encoder writes a
/// two-frame MP4 (in a scratch folder, removed after).
async fn timelapse(cfg: &Config) -> Vec<Finding> {
    let t = &cfg.timelapse;
    if !t.enabled {
        return Vec::new();
    }
    let library = crate::timelapse::Library::new(&cfg.general.data_dir);
    if let Err(e) = library.prepare() {
        return vec![fail("timelapse", e.to_string(), "make general.data_dir writable by the user running layerwatch")];
    }
    let (fps, encoder) = (t.fps, t.encoder);
    let trial = tokio::task::spawn_blocking(move || -> Result<crate::timelapse::Encoded, String> {
        use opencv::core::{Mat, Scalar, Vector};
        let dir = std::env::temp_dir().join(format!("layerwatch-doctor-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| format!("scratch folder {}: {e}", dir.display()))?;
        let _cleanup = Cleanup(dir.clone());
        let mut frames = Vec::new();
        for (i, grey) in [40.0, 200.0].into_iter().enumerate() {
            let img = Mat::new_rows_cols_with_default(48, 64, opencv::core::CV_8UC3, Scalar::all(grey))
                .map_err(|e| e.to_string())?;
            let mut jpeg = Vector::<u8>::new();
            opencv::imgcodecs::imencode(".jpg", &img, &mut jpeg, &Vector::new()).map_err(|e| e.to_string())?;
            let path = dir.join(format!("{i}.jpg"));
            std::fs::write(&path, jpeg.as_slice()).map_err(|e| e.to_string())?;
            frames.push(path);
        }
        crate::timelapse::encode::encode(&frames, &dir.join("trial.mp4"), fps, encoder).map_err(|e| e.to_string())
    })
    .await;
    match trial {
        Ok(Ok(v)) => vec![ok(
            "timelapse",
            format!(
                "{} writes the MP4s ({} frames, {} bytes in a trial); videos go to {}",
                v.codec,
                v.frames,
                v.bytes,
                library.root().display()
            ),
        )],
        Ok(Err(e)) => vec![fail(
            "timelapse",
            format!("a trial MP4 failed: {e}"),
            "install ffmpeg (apt install ffmpeg), or set [timelapse] encoder = \"opencv\"",
        )],
        Err(e) => vec![fail("timelapse", format!("the trial encode crashed: {e}"), "report this as a bug")],
    }
}

/// Removes a scratch folder when dropped.
struct Cleanup(std::path::PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn alerts(cfg: &Config, send: bool) -> Vec<Finding> {
    let notifiers = match crate::actions::alerts::build_notifiers(&cfg.alerts) {
        Ok(n) => n,
        Err(e) => return vec![fail("alerts", e.to_string(), "check the channel's settings in [alerts]")],
    };
    if notifiers.is_empty() {
        return vec![warn(
            "alerts",
            "no channel configured: nobody is told when a print fails",
            "add one of [alerts.webhook], .sms, .ntfy, .telegram, .discord, .pushover, .email",
        )];
    }
    if !send {
        let names: Vec<String> = notifiers.iter().map(|n| n.channel().to_string()).collect();
        return vec![ok(
            "alerts",
            format!("{}: configured (add --send to send each a test message)", names.join(", ")),
        )];
    }
    super::alerts::send_test(&cfg.general.name, &notifiers)
        .await
        .into_iter()
        .map(|(channel, r)| match r {
            Ok(answer) => ok("alerts", format!("{channel}: test message delivered ({answer})")),
            Err(e) => fail("alerts", format!("{channel}: {e}"), "check the channel's credentials and address"),
        })
        .collect()
}

/// `[mqtt]`: a connection with the configured credentials and TLS, a message
/// published and read back under the base topic and, with `--send` and an MQTT
/// light, the light switched on and off once.
async fn mqtt(cfg: &Config, timeout: Duration, send: bool) -> Vec<Finding> {
    let m = &cfg.mqtt;
    if !m.enabled {
        return vec![ok("mqtt", "not configured ([mqtt] enabled = false): no Home Assistant entities")];
    }
    crate::net::install_tls_provider();
    let l = &cfg.printer.light;
    let light = (send && l.method == crate::printer::light::LightMethod::Mqtt).then_some((
        l.mqtt_topic.as_str(),
        l.mqtt_payload_on.as_bytes(),
        l.mqtt_payload_off.as_bytes(),
    ));
    match crate::mqtt::check(m, &cfg.general.name, light, timeout).await {
        Ok(r) => {
            let discovery = match m.discovery {
                true => format!("Home Assistant discovery under {}/", m.discovery_prefix),
                false => "discovery off".into(),
            };
            let mut out = vec![ok(
                "mqtt",
                format!(
                    "{}: connected{}, published and read back on {}/doctor; {discovery}",
                    r.broker,
                    if m.username.is_empty() { String::new() } else { format!(" as {:?}", m.username) },
                    r.base_topic
                ),
            )];
            match r.light {
                Some(Ok(())) => out.push(ok("light", format!("{:?}: switched on and off over MQTT", l.mqtt_topic))),
                Some(Err(e)) => out.push(fail(
                    "light",
                    format!("{:?}: {e}", l.mqtt_topic),
                    "check [printer.light] mqtt_topic and the broker's ACL for it",
                )),
                None => {}
            }
            out
        }
        Err(e) => {
            use crate::mqtt::MqttError as E;
            let fix = match &e {
                E::BadCredentials { .. } => {
                    "set mqtt.username and mqtt.password (or LAYERWATCH_MQTT_PASSWORD) to a \
                                             user the broker knows (mosquitto_passwd adds one)"
                }
                E::NotAuthorized { .. } => {
                    "set mqtt.username and mqtt.password (or LAYERWATCH_MQTT_PASSWORD) to a \
                                            user the broker knows (mosquitto_passwd adds one)"
                }
                E::Tls { .. } | E::TlsHandshake { .. } => {
                    "check mqtt.tls, mqtt.port (8883 is usual for TLS) and \
                                                           mqtt.ca_file (the CA that signed the broker's certificate)"
                }
                E::Unreachable { .. } | E::Lost { .. } => {
                    "check mqtt.host and mqtt.port, and that the broker runs \
                                                          (systemctl status mosquitto)"
                }
                E::Unconfirmed(_) => {
                    "the broker took the message but did not send it back: check its ACL for \
                                      reading under the base topic"
                }
                _ => "check [mqtt] and the broker's log",
            };
            vec![fail("mqtt", e.to_string(), fix)]
        }
    }
}

/// Free space where the store lives: below 100 MiB fails, below the snapshot budget (or 1 GiB) warns.
fn disk(cfg: &Config) -> Finding {
    let dir = &cfg.general.data_dir;
    let probe = std::iter::successors(Some(dir.as_path()), |p| p.parent()).find(|p| p.exists());
    let Some(probe) = probe else {
        return fail("disk", format!("{}: no existing folder on its path", dir.display()), "create general.data_dir");
    };
    match free_bytes(probe) {
        None => warn("disk", format!("cannot read the free space of {}", probe.display()), "check the file system"),
        Some(free) => {
            let mib = free / (1 << 20);
            let budget = u64::from(cfg.store.snapshots.max_mb).max(1024);
            let detail = format!(
                "{:.1} GiB free for {} (snapshots may use up to {} MiB)",
                free as f64 / f64::from(1u32 << 30),
                dir.display(),
                cfg.store.snapshots.max_mb
            );
            if mib < 100 {
                fail("disk", detail, "free some space: the store cannot record incidents on a full disk")
            } else if mib < budget {
                warn("disk", detail, "free some space or lower store.snapshots.max_mb")
            } else {
                ok("disk", detail)
            }
        }
    }
}

fn free_bytes(p: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt as _;
    let c = std::ffi::CString::new(p.as_os_str().as_bytes()).ok()?;
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated path and `s` a writable statvfs.
    let r = unsafe { libc::statvfs(c.as_ptr(), &mut s) };
    (r == 0).then(|| s.f_bavail as u64 * s.f_frsize as u64)
}
