//! `layerwatch printer status|watch|print <file>|pause|resume|cancel|cancel-object NAME|objects`: talk to
//! the printer directly, from the config file or from connection flags.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio_util::sync::CancellationToken;

use crate::domain::{PrinterState, PrinterStatus};
use crate::printer::marlin::MarlinLink;
use crate::printer::{Confirmation, PrinterConfig, PrinterError, PrinterKind, PrinterLink, SerialMode};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub conn: ConnArgs,
    #[command(subcommand)]
    pub action: Action,
}

/// Connection flags; each overrides `[printer]` from `--config`.
#[derive(Debug, Clone, clap::Args)]
pub struct ConnArgs {
    /// Serial port of a Marlin-style printer (sets kind = "marlin").
    #[arg(long, value_name = "PATH", global = true)]
    pub serial: Option<PathBuf>,
    /// Serial speed in baud (default: printer.serial.baud, 115200).
    #[arg(long, value_name = "N", global = true)]
    pub baud: Option<u32>,
    /// host: layerwatch streams the file; monitor: the printer prints from SD or another host.
    #[arg(long, value_enum, global = true)]
    pub mode: Option<ModeArg>,
    /// OctoPrint base URL (sets kind = "octoprint").
    #[arg(long, value_name = "URL", global = true)]
    pub octoprint: Option<String>,
    /// OctoPrint or Moonraker API key (never printed or logged).
    #[arg(
        long,
        value_name = "KEY",
        env = "OCTOPRINT_API_KEY",
        global = true,
        hide_env_values = true
    )]
    pub api_key: Option<String>,
    /// Moonraker base URL (sets kind = "moonraker").
    #[arg(long, value_name = "URL", global = true)]
    pub moonraker: Option<String>,
    /// How long to wait for the printer to answer, in seconds.
    #[arg(long, default_value_t = 20, global = true)]
    pub connect_timeout: u64,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ModeArg {
    Host,
    Monitor,
}

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Print the printer's state once.
    Status {
        /// One JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Print every state change until Ctrl-C.
    Watch {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Stream a G-code file (host mode) with a progress bar; Ctrl-C cancels the print.
    Print {
        /// The G-code file to print.
        file: PathBuf,
    },
    /// Pause the running print and wait until the printer confirms it.
    Pause,
    /// Resume a paused print and wait until the printer confirms it.
    Resume,
    /// Cancel the running print and wait until the printer confirms it.
    Cancel,
    /// Cancel one object of the running print; the other objects go on.
    ///
    /// NAME is the object's name as the G-code labels it (see `printer objects`;
    /// any case). Moonraker: sends `EXCLUDE_OBJECT NAME=…` and waits until Klipper
    /// lists it in `exclude_object.excluded_objects` (needs `[exclude_object]` in
    /// printer.cfg and a labelled file). OctoPrint and Marlin monitor mode: sends
    /// `M486 P<id>` when `[printer] firmware_cancel_objects = true` and the file
    /// labels objects with M486. Marlin host mode: the daemon streaming the file does it — use the
    /// dashboard or `POST /api/objects/NAME/cancel`. Refused for an unknown name
    /// and for the last object still printing.
    #[command(name = "cancel-object")]
    CancelObject {
        /// The object's name, as `layerwatch printer objects` lists it.
        name: String,
    },
    /// List the running print's objects and their state (pending, printing, done, cancelled).
    Objects {
        /// One JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// The `[printer]` section with the flags applied.
fn printer_config(base: PrinterConfig, a: &ConnArgs) -> anyhow::Result<PrinterConfig> {
    let mut cfg = base;
    let backends = [a.serial.is_some(), a.octoprint.is_some(), a.moonraker.is_some()]
        .iter()
        .filter(|b| **b)
        .count();
    if backends > 1 {
        bail!("give one of --serial, --octoprint, --moonraker");
    }
    if let Some(path) = &a.serial {
        cfg.kind = PrinterKind::Marlin;
        cfg.serial.path = path.clone();
    }
    if let Some(baud) = a.baud {
        cfg.serial.baud = baud;
    }
    if let Some(m) = a.mode {
        cfg.serial.mode = match m {
            ModeArg::Host => SerialMode::Host,
            ModeArg::Monitor => SerialMode::Monitor,
        };
    }
    if let Some(url) = &a.octoprint {
        cfg.kind = PrinterKind::Octoprint;
        cfg.octoprint.url = url.clone();
        cfg.octoprint.api_key = a.api_key.clone().or(cfg.octoprint.api_key);
    }
    if let Some(url) = &a.moonraker {
        cfg.kind = PrinterKind::Moonraker;
        cfg.moonraker.url = url.clone();
    }
    let mut issues = crate::config::Issues::default();
    cfg.validate("printer", &mut issues);
    if !issues.is_empty() {
        let list: Vec<String> = issues.iter().map(|i| format!("  - {i}")).collect();
        bail!("invalid printer settings:\n{}", list.join("\n"));
    }
    if cfg.kind == PrinterKind::None {
        bail!("no printer: pass --serial PATH (or --octoprint/--moonraker), or a config with [printer] kind");
    }
    Ok(cfg)
}

pub async fn run(args: Args, global: &super::Global) -> anyhow::Result<ExitCode> {
    let base = global.load_config()?.printer;
    let mut cfg = printer_config(base, &args.conn)?;
    let cancel = CancellationToken::new();
    let ctrl_c = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            ctrl_c.cancel();
        }
    });
    let timeout = Duration::from_secs(args.conn.connect_timeout);
    if let Action::Print { file } = &args.action {
        if cfg.kind != PrinterKind::Marlin {
            bail!(
                "`printer print` streams over a serial port (--serial); OctoPrint and Moonraker print their own files"
            );
        }
        if args.conn.mode.is_some_and(|m| matches!(m, ModeArg::Monitor)) {
            bail!("`printer print` needs host mode: layerwatch streams the file itself");
        }
        if !file.is_file() {
            bail!("{}: no such file", file.display());
        }
        cfg.serial.mode = SerialMode::Host;
        // Not a child of the Ctrl-C token: the link must live on to send the cancel.
        let link_token = CancellationToken::new();
        let link = MarlinLink::open(&cfg, link_token.clone());
        let code = print(&link, file, timeout, &cancel).await;
        link_token.cancel();
        return code;
    }
    if matches!(args.action, Action::CancelObject { .. } | Action::Objects { .. })
        && cfg.kind == PrinterKind::Marlin
        && cfg.serial.mode == SerialMode::Host
    {
        bail!(
            "in host mode the daemon streaming the file owns the print: cancel objects from the dashboard or with \
             POST /api/objects/NAME/cancel (GET /api/objects lists them)"
        );
    }
    if matches!(args.action, Action::Pause | Action::Resume | Action::Cancel | Action::CancelObject { .. }) {
        // A one-shot command needs the printer's state, not the printing file's layers: the print hosts'
        // links then neither download nor analyse the file (issue 13 item 7).
        cfg.octoprint.max_file_mb = 0;
        cfg.moonraker.max_file_mb = 0;
    }
    let link = crate::printer::connect(&cfg, cancel.child_token()).map_err(|e| anyhow::anyhow!(e))?;
    let status = connected(&*link, timeout).await?;
    // Monitor mode learns SD progress from its first reports: give them a moment.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let latest = link.status().borrow().clone();
    let status = latest.max_info(status);
    let result = match args.action {
        Action::Status { json } => {
            println!(
                "{}",
                if json {
                    serde_json::to_string(&status)?
                } else {
                    describe(&status)
                }
            );
            return Ok(ExitCode::SUCCESS);
        }
        Action::Watch { json } => return watch(&*link, json, &cancel).await,
        Action::Pause => ("pause", link.pause().await),
        Action::Resume => ("resume", link.resume().await),
        Action::Cancel => ("cancel", link.cancel().await),
        Action::CancelObject { name } => ("cancel-object", link.cancel_object(&name).await),
        Action::Objects { json } => return objects(&*link, json, timeout).await,
        Action::Print { .. } => bail!("print is handled before connecting"),
    };
    Ok(report(result.0, result.1, &link.status().borrow()))
}

/// `printer objects`: waits (up to `timeout`) for the link's analysis of the printing file, then lists.
async fn objects(link: &dyn PrinterLink, json: bool, timeout: Duration) -> anyhow::Result<ExitCode> {
    let mut rx = link.analysis();
    let _ = tokio::time::timeout(timeout, rx.wait_for(|a| a.is_some())).await;
    let list = crate::printer::objects::list(link).await;
    if json {
        println!("{}", serde_json::to_string(&list)?);
        return Ok(ExitCode::SUCCESS);
    }
    let Some(file) = &list.file else {
        println!("nothing is printing");
        return Ok(ExitCode::SUCCESS);
    };
    if list.objects.is_empty() {
        println!("{file}: no labelled objects (or the file is not analysed)");
    }
    for o in &list.objects {
        let state = serde_json::to_value(o.state)?.as_str().unwrap_or_default().to_string();
        println!("{:<10} {}", state, o.name);
    }
    Ok(ExitCode::SUCCESS)
}

trait MaxInfo {
    fn max_info(self, earlier: PrinterStatus) -> PrinterStatus;
}

impl MaxInfo for PrinterStatus {
    /// The later status unless the link dropped in between.
    fn max_info(self, earlier: PrinterStatus) -> PrinterStatus {
        if matches!(self.state, PrinterState::Disconnected) {
            earlier
        } else {
            self
        }
    }
}

pub(super) async fn connected(link: &dyn PrinterLink, timeout: Duration) -> anyhow::Result<PrinterStatus> {
    let mut rx = link.status();
    let wait = async {
        rx.wait_for(|s| !matches!(s.state, PrinterState::Disconnected))
            .await
            .map(|s| s.clone())
    };
    match tokio::time::timeout(timeout, wait).await {
        Ok(Ok(s)) => Ok(s),
        _ => bail!(
            "{}: no answer from the printer within {} s",
            link.name(),
            timeout.as_secs()
        ),
    }
}

fn report(command: &str, result: Result<Confirmation, PrinterError>, status: &PrinterStatus) -> ExitCode {
    match result {
        Ok(Confirmation::Confirmed) => {
            println!("{command}: confirmed ({})", status.state.name());
            ExitCode::SUCCESS
        }
        Ok(Confirmation::AlreadyThere) => {
            println!("{command}: nothing to do, printer already {}", status.state.name());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{command}: {e}");
            ExitCode::from(1)
        }
    }
}

/// One line a person can read: `printing cube.gcode 42.0% layer 12/80 z=2.40 | hotend 210.0/210 bed 60.0/60`.
pub fn describe(s: &PrinterStatus) -> String {
    let mut out = s.state.name().to_string();
    if let PrinterState::Error { message } = &s.state {
        out.push_str(&format!(": {message}"));
    }
    if let Some(j) = s.state.job() {
        out.push_str(&format!(" {}", j.file));
        if let Some(p) = j.progress {
            out.push_str(&format!(" {:.1}%", p * 100.0));
        }
        match (j.layer, j.layer_count) {
            (Some(l), Some(n)) => out.push_str(&format!(" layer {}/{n}", l + 1)),
            (Some(l), None) => out.push_str(&format!(" layer {}", l + 1)),
            _ => {}
        }
        if let Some(z) = j.z {
            out.push_str(&format!(" z={z:.2}"));
        }
    }
    let heater = |name: &str, h: Option<crate::domain::Heater>| {
        h.map(|h| format!(" {name} {:.1}/{:.0}", h.actual, h.target))
            .unwrap_or_default()
    };
    let temps = format!("{}{}", heater("hotend", s.temps.hotend), heater("bed", s.temps.bed));
    if !temps.is_empty() {
        out.push_str(&format!(" |{temps}"));
    }
    out
}

async fn watch(link: &dyn PrinterLink, json: bool, cancel: &CancellationToken) -> anyhow::Result<ExitCode> {
    let mut rx = link.status();
    let mut last = String::new();
    loop {
        let s = rx.borrow_and_update().clone();
        let line = if json { serde_json::to_string(&s)? } else { describe(&s) };
        // JSON: every update. Text: when the state or the layer changes.
        let key = if json {
            line.clone()
        } else {
            let layer = s.state.job().and_then(|j| j.layer);
            format!(
                "{:?} {layer:?} {}",
                std::mem::discriminant(&s.state),
                if let PrinterState::Error { message } = &s.state {
                    message.as_str()
                } else {
                    ""
                }
            )
        };
        if key != last {
            println!("{line}");
            last = key;
        }
        tokio::select! {
            _ = cancel.cancelled() => return Ok(ExitCode::SUCCESS),
            r = rx.changed() => if r.is_err() { return Ok(ExitCode::from(1)) },
        }
    }
}

async fn print(
    link: &Arc<MarlinLink>,
    file: &std::path::Path,
    timeout: Duration,
    cancel: &CancellationToken,
) -> anyhow::Result<ExitCode> {
    connected(&**link, timeout).await?;
    link.print(file)
        .await
        .map_err(|e| anyhow::anyhow!(e))
        .with_context(|| format!("cannot print {}", file.display()))?;
    let bar = indicatif::ProgressBar::new(1000);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {percent:>3}% ETA {eta} {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut rx = link.status();
    let mut cancelling = false;
    loop {
        let s = rx.borrow_and_update().clone();
        if let Some(j) = s.state.job() {
            bar.set_position((j.progress.unwrap_or(0.0) * 1000.0) as u64);
            let layer = match (j.layer, j.layer_count) {
                (Some(l), Some(n)) => format!("layer {}/{n}", l + 1),
                _ => String::new(),
            };
            bar.set_message(format!("{} {layer}", s.state.name()));
        }
        match &s.state {
            PrinterState::Finished { .. } => {
                bar.finish_with_message("finished");
                println!("{}", describe(&s));
                return Ok(ExitCode::SUCCESS);
            }
            PrinterState::Cancelled { .. } | PrinterState::Error { .. } => {
                bar.abandon_with_message(s.state.name());
                eprintln!("print did not complete: {}", describe(&s));
                return Ok(ExitCode::from(1));
            }
            PrinterState::Idle | PrinterState::Disconnected => {
                bar.abandon_with_message(s.state.name());
                eprintln!("print did not complete: the printer is {}", s.state.name());
                return Ok(ExitCode::from(1));
            }
            _ => {}
        }
        tokio::select! {
            _ = cancel.cancelled(), if !cancelling => {
                cancelling = true;
                bar.println("Ctrl-C: cancelling the print (heaters off, nozzle lifted)…");
                // The link itself must keep running to send the cancel: it uses a child of a fresh token.
                if let Err(e) = link.cancel().await {
                    bar.println(format!("cancel: {e}"));
                }
            }
            r = rx.changed() => if r.is_err() {
                bar.abandon_with_message("printer link ended");
                return Ok(ExitCode::from(1));
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(extra: &[&str]) -> ConnArgs {
        #[derive(clap::Parser)]
        struct T {
            #[command(flatten)]
            c: ConnArgs,
        }
        let mut argv = vec!["t"];
        argv.extend_from_slice(extra);
        <T as clap::Parser>::parse_from(argv).c
    }

    #[test]
    fn flags_override_the_config() {
        let cfg = printer_config(
            PrinterConfig::default(),
            &args(&["--serial", "/dev/ttyACM0", "--baud", "250000", "--mode", "host"]),
        )
        .unwrap();
        assert_eq!(cfg.kind, PrinterKind::Marlin);
        assert_eq!(cfg.serial.path, PathBuf::from("/dev/ttyACM0"));
        assert_eq!((cfg.serial.baud, cfg.serial.mode), (250_000, SerialMode::Host));
        let err = printer_config(
            PrinterConfig::default(),
            &args(&["--serial", "/dev/x", "--baud", "12345"]),
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("printer.serial.baud = 12345: is not a standard rate"),
            "{err}"
        );
        let err = printer_config(PrinterConfig::default(), &args(&[])).unwrap_err();
        assert!(err.to_string().contains("no printer"), "{err}");
        let err = printer_config(
            PrinterConfig::default(),
            &args(&["--serial", "/dev/x", "--moonraker", "http://h"]),
        )
        .unwrap_err();
        assert!(err.to_string().contains("one of"), "{err}");
    }

    #[test]
    fn describes_states() {
        use crate::domain::{Heater, PrintJob, Temperatures, Timestamp};
        let job = PrintJob {
            file: "cube.gcode".into(),
            progress: Some(0.42),
            layer: Some(11),
            layer_count: Some(80),
            z: Some(2.4),
            ..PrintJob::default()
        };
        let s = PrinterStatus {
            state: PrinterState::Printing { job },
            temps: Temperatures {
                hotend: Some(Heater {
                    actual: 209.6,
                    target: 210.0,
                }),
                bed: None,
            },
            at: Timestamp(0),
        };
        assert_eq!(
            describe(&s),
            "printing cube.gcode 42.0% layer 12/80 z=2.40 | hotend 209.6/210"
        );
        let e = PrinterStatus {
            state: PrinterState::Error {
                message: "printer halted".into(),
            },
            temps: Temperatures::default(),
            at: Timestamp(0),
        };
        assert_eq!(describe(&e), "error: printer halted");
    }
}
