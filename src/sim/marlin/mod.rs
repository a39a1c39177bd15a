//! An in-process Marlin firmware simulator on a pseudo-terminal.
//!
//! The built-in demo prints through it, and fast tests use it beside the real
//! peer (OctoPrint's VirtualPrinter). It speaks Marlin's serial protocol —
//! `M115` capabilities, line numbers, checksums and `Resend`, `busy:` keep-alives,
//! `M105`/`M155` temperatures with simulated heating, `M109`/`M190` waits,
//! positions (`G90`/`G91`/`G92`/`G28`, `M114`), `M27`/`M73`, SD printing, `M112`,
//! host action commands and prompts — on a configurable time scale, and injects
//! faults on request. `SimHandle` reads back what it executed and its state.

mod firmware;
mod machine;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use firmware::Firmware;

/// Optional firmware features, reported as `Cap:` lines by `M115`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimCaps {
    pub autoreport_temp: bool,
    pub autoreport_sd_status: bool,
    pub autoreport_pos: bool,
    pub emergency_parser: bool,
    pub host_action_commands: bool,
    pub prompt_support: bool,
    /// Marlin built with `CANCEL_OBJECTS`: `M486` is taken (and recorded), not an unknown command.
    pub cancel_objects: bool,
}

impl Default for SimCaps {
    fn default() -> Self {
        SimCaps {
            autoreport_temp: true,
            autoreport_sd_status: true,
            autoreport_pos: false,
            emergency_parser: true,
            host_action_commands: true,
            prompt_support: true,
            cancel_objects: false,
        }
    }
}

#[derive(Debug, Clone)]
pub struct SimConfig {
    pub firmware_name: String,
    pub caps: SimCaps,
    /// Real seconds per simulated second (0.01 runs a print 100× faster).
    pub time_scale: f64,
    /// °C per simulated second for the hotend (the bed heats at half the rate).
    pub heat_rate: f32,
    pub ambient: f32,
    /// Reported in `M115`'s `area:` line when set.
    pub max_z: Option<f32>,
    /// Bytes the "boot loader" prints before `start` at every boot.
    pub boot_junk: Vec<u8>,
    /// Line numbers rejected once with a checksum error.
    pub resend_errors: Vec<u32>,
    /// Moves the planner buffers.
    pub planner_size: usize,
    /// A stable path (symlink) to the current pty, kept across replugs. Without
    /// one, the pty's own path is used and changes on replug.
    pub link: Option<PathBuf>,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            firmware_name: "Marlin 2.1.2.1 (layerwatch sim)".into(),
            caps: SimCaps::default(),
            time_scale: 0.01,
            heat_rate: 5.0,
            ambient: 21.0,
            max_z: Some(250.0),
            boot_junk: vec![0xff, 0xfe, 0x00, 0x80],
            resend_errors: Vec::new(),
            planner_size: 16,
            link: None,
        }
    }
}

/// Faults the simulator can be told to produce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// The next numbered line arrives corrupted (checksum mismatch → `Resend`).
    CorruptNextLine,
    /// Reject line N once with a checksum error.
    ResendAt(u32),
    /// The next `ok` is lost on the wire.
    DropNextOk,
    /// Raw bytes to the host.
    Garbage(Vec<u8>),
    /// Reboot (DTR reset): banner, all state lost.
    Reset,
    /// `kill()`: halted until reset.
    Kill,
    /// Stop answering for a while (input is buffered).
    Silence(Duration),
    /// `//action:<text>` to the host.
    Action(String),
}

/// What the simulator is doing, as a test sees it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SimState {
    pub position: [f32; 4],
    pub hotend: (f32, f32),
    pub bed: (f32, f32),
    pub fan: f32,
    pub last_line: u32,
    pub killed: bool,
    pub plugged: bool,
    pub sd_file: Option<String>,
    pub sd_pos: u64,
    pub sd_printing: bool,
    pub progress: Option<f32>,
    /// Lines refused (checksum, numbering).
    pub rejected: u64,
}

enum Control {
    Inject(Fault),
    /// Someone at the printer starts an SD print from the LCD.
    LcdStart(String),
    PutSd(String, Vec<u8>),
    Unplug(oneshot::Sender<()>),
    Replug(oneshot::Sender<PathBuf>),
}

#[derive(Default)]
struct Shared {
    executed: Vec<String>,
    sd_executed: Vec<String>,
    state: SimState,
    path: PathBuf,
}

/// Controls a running simulator; cheap to clone.
#[derive(Clone)]
pub struct SimHandle {
    ctl: mpsc::UnboundedSender<Control>,
    shared: Arc<Mutex<Shared>>,
}

pub struct MarlinSim;

impl MarlinSim {
    /// Starts the simulator; returns its handle and the path a host opens.
    /// Must be called inside a Tokio runtime.
    pub async fn spawn(cfg: SimConfig, cancel: CancellationToken) -> std::io::Result<(SimHandle, PathBuf)> {
        let (ctl_tx, ctl_rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Mutex::new(Shared::default()));
        let plug = Plug::open(cfg.link.as_deref())?;
        let path = plug.path.clone();
        lock(&shared).path = path.clone();
        tokio::spawn(run(cfg, plug, shared.clone(), ctl_rx, cancel));
        Ok((SimHandle { ctl: ctl_tx, shared }, path))
    }
}

fn lock(shared: &Mutex<Shared>) -> std::sync::MutexGuard<'_, Shared> {
    // A panicking test thread must not hide the simulator's data from the others.
    shared.lock().unwrap_or_else(|e| e.into_inner())
}

impl SimHandle {
    pub fn inject(&self, fault: Fault) {
        let _ = self.ctl.send(Control::Inject(fault));
    }

    /// Puts a file on the simulated SD card (name matched case-insensitively).
    pub fn put_sd_file(&self, name: &str, data: Vec<u8>) {
        let _ = self.ctl.send(Control::PutSd(name.to_ascii_lowercase(), data));
    }

    /// Someone at the printer selects `name` on the SD card and starts it.
    pub fn start_sd_print(&self, name: &str) {
        let _ = self.ctl.send(Control::LcdStart(name.to_ascii_lowercase()));
    }

    /// Commands received over serial and executed, in order (no N, no checksum).
    pub fn executed(&self) -> Vec<String> {
        lock(&self.shared).executed.clone()
    }

    /// Commands executed from the SD card.
    pub fn sd_executed(&self) -> Vec<String> {
        lock(&self.shared).sd_executed.clone()
    }

    pub fn state(&self) -> SimState {
        lock(&self.shared).state.clone()
    }

    pub fn path(&self) -> PathBuf {
        lock(&self.shared).path.clone()
    }

    /// Pulls the USB cable: the host's port vanishes.
    pub async fn unplug(&self) {
        let (tx, rx) = oneshot::channel();
        if self.ctl.send(Control::Unplug(tx)).is_ok() {
            let _ = rx.await;
        }
    }

    /// Plugs it back in: a new pty (at the same link path), a freshly booted firmware.
    pub async fn replug(&self) -> Option<PathBuf> {
        let (tx, rx) = oneshot::channel();
        self.ctl.send(Control::Replug(tx)).ok()?;
        rx.await.ok()
    }
}

/// One pty "plugged in": master side for the firmware, a kept slave so the
/// master never sees a hang-up while the host reconnects.
struct Plug {
    master: tokio_serial::SerialStream,
    _keeper: tokio_serial::SerialStream,
    path: PathBuf,
}

impl Plug {
    fn open(link: Option<&Path>) -> std::io::Result<Plug> {
        use tokio_serial::SerialPort;
        let (master, keeper) = tokio_serial::SerialStream::pair().map_err(std::io::Error::from)?;
        let pty = PathBuf::from(keeper.name().unwrap_or_default());
        let path = match link {
            Some(link) => {
                let tmp = link.with_extension("tmp");
                let _ = std::fs::remove_file(&tmp);
                std::os::unix::fs::symlink(&pty, &tmp)?;
                std::fs::rename(&tmp, link)?;
                link.to_path_buf()
            }
            None => pty,
        };
        Ok(Plug {
            master,
            _keeper: keeper,
            path,
        })
    }
}

async fn run(
    cfg: SimConfig,
    first: Plug,
    shared: Arc<Mutex<Shared>>,
    mut ctl: mpsc::UnboundedReceiver<Control>,
    cancel: CancellationToken,
) {
    let mut fw = Firmware::new(cfg.clone(), Instant::now());
    let mut plug = Some(first);
    fw.boot(Instant::now());
    let mut buf = vec![0u8; 4096];
    loop {
        let Some(p) = plug.as_mut() else {
            // Unplugged: only the cable can change that.
            tokio::select! {
                _ = cancel.cancelled() => return,
                c = ctl.recv() => match c {
                    None => return,
                    Some(Control::Replug(done)) => match Plug::open(cfg.link.as_deref()) {
                        Ok(p) => {
                            lock(&shared).path = p.path.clone();
                            let _ = done.send(p.path.clone());
                            plug = Some(p);
                            fw.boot(Instant::now());
                        }
                        Err(e) => warn!(error = %e, "simulator: cannot open a new pty"),
                    },
                    Some(Control::PutSd(name, data)) => { fw.sd.files.insert(name, data); }
                    Some(Control::Unplug(done)) => { let _ = done.send(()); }
                    Some(Control::Inject(_)) | Some(Control::LcdStart(_)) => {}
                },
            }
            publish(&mut fw, &shared, false);
            continue;
        };
        // Flush output; a host that does not read loses it, like a real UART.
        let now = Instant::now();
        if !fw.is_muted(now) {
            for bytes in std::mem::take(&mut fw.out) {
                if tokio::time::timeout(Duration::from_millis(50), p.master.write_all(&bytes))
                    .await
                    .is_err()
                {
                    debug!("simulator: host not reading, output dropped");
                }
            }
        }
        let tick = if fw.busy() {
            Duration::from_millis(2)
        } else {
            Duration::from_millis(20)
        };
        tokio::select! {
            _ = cancel.cancelled() => return,
            r = p.master.read(&mut buf) => match r {
                Ok(n) if n > 0 => fw.receive(&buf[..n], Instant::now()),
                // No host has the port open: nothing to read.
                _ => tokio::time::sleep(Duration::from_millis(20)).await,
            },
            c = ctl.recv() => match c {
                None => return,
                Some(Control::Inject(f)) => fw.inject(f, Instant::now()),
                Some(Control::LcdStart(name)) => fw.lcd_start(&name),
                Some(Control::PutSd(name, data)) => { fw.sd.files.insert(name, data); }
                Some(Control::Unplug(done)) => {
                    plug = None;
                    let _ = done.send(());
                }
                Some(Control::Replug(done)) => match Plug::open(cfg.link.as_deref()) {
                    Ok(p) => {
                        lock(&shared).path = p.path.clone();
                        let _ = done.send(p.path.clone());
                        plug = Some(p);
                        fw.boot(Instant::now());
                    }
                    Err(e) => warn!(error = %e, "simulator: cannot open a new pty"),
                },
            },
            _ = tokio::time::sleep(tick) => {}
        }
        fw.tick(Instant::now());
        publish(&mut fw, &shared, plug.is_some());
    }
}

fn publish(fw: &mut Firmware, shared: &Mutex<Shared>, plugged: bool) {
    let mut s = lock(shared);
    s.executed.append(&mut fw.executed);
    s.sd_executed.append(&mut fw.sd_executed);
    s.state = SimState {
        position: fw.axes.pos,
        hotend: (fw.hotend.actual, fw.hotend.target),
        bed: (fw.bed.actual, fw.bed.target),
        fan: fw.fan,
        last_line: fw.last_n,
        killed: fw.killed,
        plugged,
        sd_file: fw.sd.selected.clone(),
        sd_pos: fw.sd.pos,
        sd_printing: fw.sd.printing,
        progress: fw.progress,
        rejected: fw.rejected,
    };
}
