//! A small, real MJPEG camera server: the demo's camera and the camera of
//! end-to-end tests. Plain tokio `TcpListener` and hand-written HTTP/1.1.
//!
//! It plays a list of JPEG frames in a loop at a given rate (or, once a test
//! sets one with [`MjpegServer::show`], the scene in front of it now), like a
//! camera whose frames every client shares (a slow client skips frames, as
//! with mjpg-streamer), and serves
//! - `multipart/x-mixed-replace` streams at `/stream` and `/?action=stream`,
//! - single JPEGs at `/snapshot` and `/?action=snapshot`,
//!
//! with faults switchable at run time: a truncated part, a wrong
//! `Content-Length` (too small, too large), a non-JPEG part, a corrupt JPEG,
//! garbage between parts, a stall in the middle of a part, and a restart that
//! drops every connection and refuses new ones for a while. Faults are either
//! one-shot ([`MjpegServer::inject`]: the next frames, in order) or persistent
//! ([`MjpegServer::set_fault`]: every frame until cleared).
//!
//! ```no_run
//! # async fn demo(jpegs: Vec<bytes::Bytes>) -> Result<(), layerwatch::sim::mjpeg_server::MjpegServerError> {
//! use layerwatch::sim::mjpeg_server::{Fault, MjpegServer};
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let cam = MjpegServer::start(listener, jpegs, 15.0)?;
//! println!("camera at {} (snapshots at {})", cam.url(), cam.snapshot_url());
//! cam.inject(Fault::TruncatedPart);
//! cam.restart(std::time::Duration::from_secs(2));
//! cam.shutdown().await;
//! # Ok(()) }
//! ```

mod render;
mod request;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use render::{GARBAGE, NOT_JPEG_BODY};
use request::Route;

/// A fault the server can inject into a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The part declares the whole JPEG but carries only its first half.
    TruncatedPart,
    /// `Content-Length` smaller than the JPEG (the JPEG is sent whole).
    ContentLengthTooSmall,
    /// `Content-Length` larger than the JPEG (the JPEG is sent whole).
    ContentLengthTooLarge,
    /// A `text/plain` part instead of a JPEG.
    NotJpeg,
    /// An `image/jpeg` part whose bytes are not a JPEG.
    CorruptJpeg,
    /// A good part followed by garbage before the next boundary.
    GarbageBetweenParts,
    /// The part stops half-way for this long, then continues.
    Stall(Duration),
}

/// How the multipart boundary is declared and written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BoundaryStyle {
    /// `boundary=boundarydonotcross` (mjpg-streamer, ustreamer).
    #[default]
    Plain,
    /// `boundary="layerwatch frame"` (quoted, with a space).
    Quoted,
    /// `boundary=--myboundary` with `--myboundary` lines (many IP cameras).
    Dashed,
    /// No boundary parameter at all; lines are `--frame`.
    Undeclared,
}

/// Where the boundary goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Framing {
    /// After each part (mjpg-streamer, ustreamer): a part is complete when written.
    #[default]
    BoundaryAfter,
    /// Before each part (Flask/OpenCV tutorial servers).
    BoundaryBefore,
}

/// Server settings; `Default` behaves like mjpg-streamer at 15 fps.
#[derive(Debug, Clone, PartialEq)]
pub struct MjpegServerOptions {
    pub fps: f64,
    pub boundary: BoundaryStyle,
    pub framing: Framing,
    /// Send `Content-Length` in each part.
    pub content_length: bool,
    /// Send `X-Timestamp` (wall clock, seconds) in each part.
    pub x_timestamp: bool,
    /// Require HTTP Basic auth with this user and password.
    pub basic_auth: Option<(String, String)>,
}

impl Default for MjpegServerOptions {
    fn default() -> Self {
        MjpegServerOptions {
            fps: 15.0,
            boundary: BoundaryStyle::Plain,
            framing: Framing::BoundaryAfter,
            content_length: true,
            x_timestamp: true,
            basic_auth: None,
        }
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum MjpegServerError {
    #[error("no frames to serve")]
    NoFrames,
    #[error("fps must be between 0.01 and 1000, got {0}")]
    BadFps(f64),
    #[error("must be started inside a tokio runtime")]
    NoRuntime,
    #[error("cannot bind the camera server: {0}")]
    Io(#[from] std::io::Error),
}

/// Counters of the server, for tests and the demo's status line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ServerStats {
    /// Frames the camera produced (whether or not anyone was watching).
    pub frames_produced: u64,
    /// Stream parts written to clients.
    pub parts_sent: u64,
    /// Snapshot responses written.
    pub snapshots_sent: u64,
    /// Connections accepted and served.
    pub connections: u64,
    /// Connections dropped unanswered while restarting.
    pub refused: u64,
    /// Parts slow clients skipped.
    pub lagged: u64,
}

/// One produced frame, shared by every client.
#[derive(Debug)]
struct Produced {
    jpeg: Bytes,
    fault: Option<Fault>,
    x_timestamp: f64,
}

#[derive(Debug)]
struct Control {
    oneshot: VecDeque<Fault>,
    persistent: Option<Fault>,
    down_until: Option<Instant>,
    /// Cancelled by `restart`: every connection of the current generation ends.
    generation: CancellationToken,
    current: Option<Arc<Produced>>,
    log: Vec<(u64, Fault)>,
    /// A scene set with [`MjpegServer::show`]: produced (in a loop) instead of the frame list.
    shown: Option<Vec<Bytes>>,
}

#[derive(Debug)]
struct Shared {
    frames: Vec<Bytes>,
    opts: MjpegServerOptions,
    control: Mutex<Control>,
    tx: broadcast::Sender<Arc<Produced>>,
    frames_produced: AtomicU64,
    parts_sent: AtomicU64,
    snapshots_sent: AtomicU64,
    connections: AtomicU64,
    refused: AtomicU64,
    lagged: AtomicU64,
}

impl Shared {
    fn control(&self) -> MutexGuard<'_, Control> {
        self.control.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A running simulated camera. Dropping it stops it (use [`shutdown`](Self::shutdown)
/// to also wait for its tasks).
#[derive(Debug)]
pub struct MjpegServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    cancel: CancellationToken,
    tracker: TaskTracker,
}

impl MjpegServer {
    /// Binds `addr` and serves `frames` at `fps`.
    pub async fn bind(addr: SocketAddr, frames: Vec<Bytes>, fps: f64) -> Result<Self, MjpegServerError> {
        let listener = TcpListener::bind(addr).await?;
        Self::start(listener, frames, fps)
    }

    /// Serves `frames` at `fps` on `listener`, mjpg-streamer style.
    pub fn start(listener: TcpListener, frames: Vec<Bytes>, fps: f64) -> Result<Self, MjpegServerError> {
        Self::start_with(listener, frames, MjpegServerOptions { fps, ..Default::default() })
    }

    /// Serves `frames` on `listener` with the given options.
    pub fn start_with(
        listener: TcpListener,
        frames: Vec<Bytes>,
        opts: MjpegServerOptions,
    ) -> Result<Self, MjpegServerError> {
        if frames.is_empty() {
            return Err(MjpegServerError::NoFrames);
        }
        if !(opts.fps.is_finite() && (0.01..=1000.0).contains(&opts.fps)) {
            return Err(MjpegServerError::BadFps(opts.fps));
        }
        let rt = tokio::runtime::Handle::try_current().map_err(|_| MjpegServerError::NoRuntime)?;
        let addr = listener.local_addr()?;
        let (tx, _) = broadcast::channel(64);
        let cancel = CancellationToken::new();
        let shared = Arc::new(Shared {
            frames,
            opts,
            control: Mutex::new(Control {
                oneshot: VecDeque::new(),
                persistent: None,
                down_until: None,
                generation: cancel.child_token(),
                current: None,
                log: vec![],
                shown: None,
            }),
            tx,
            frames_produced: AtomicU64::new(0),
            parts_sent: AtomicU64::new(0),
            snapshots_sent: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            lagged: AtomicU64::new(0),
        });
        let tracker = TaskTracker::new();
        let _guard = rt.enter();
        tracker.spawn(produce(shared.clone(), cancel.clone()));
        tracker.spawn(accept(listener, shared.clone(), cancel.clone(), tracker.clone()));
        Ok(MjpegServer { addr, shared, cancel, tracker })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn base(&self) -> String {
        match &self.shared.opts.basic_auth {
            Some((u, p)) => format!("http://{u}:{p}@{}", self.addr),
            None => format!("http://{}", self.addr),
        }
    }

    /// The stream URL (with the credentials, if auth is on).
    pub fn url(&self) -> String {
        format!("{}/stream", self.base())
    }

    /// The snapshot URL (with the credentials, if auth is on).
    pub fn snapshot_url(&self) -> String {
        format!("{}/snapshot", self.base())
    }

    /// Applies `fault` to the next frame produced; several calls fault consecutive frames.
    pub fn inject(&self, fault: Fault) {
        self.shared.control().oneshot.push_back(fault);
    }

    /// Applies `fault` to every frame from now on (`None` clears it).
    pub fn set_fault(&self, fault: Option<Fault>) {
        self.shared.control().persistent = fault;
    }

    /// Drops every connection now and answers none for `downtime`, like a camera
    /// service restarting.
    pub fn restart(&self, downtime: Duration) {
        let mut c = self.shared.control();
        c.down_until = Some(Instant::now() + downtime);
        c.generation.cancel();
        c.generation = self.cancel.child_token();
        tracing::info!(addr = %self.addr, downtime_ms = downtime.as_millis() as u64, "simulated camera restarting");
    }

    /// From the next frame on, the camera produces `scene` in a loop (what it sees
    /// now: a test moves the scene with the printer), until called again; `None`
    /// (or an empty scene) goes back to the frame list.
    pub fn show(&self, scene: Option<Vec<Bytes>>) {
        self.shared.control().shown = scene.filter(|s| !s.is_empty());
    }

    /// Which produced frames (by frame number since start) carried which fault.
    pub fn fault_log(&self) -> Vec<(u64, Fault)> {
        self.shared.control().log.clone()
    }

    pub fn stats(&self) -> ServerStats {
        let s = &self.shared;
        ServerStats {
            frames_produced: s.frames_produced.load(Ordering::Relaxed),
            parts_sent: s.parts_sent.load(Ordering::Relaxed),
            snapshots_sent: s.snapshots_sent.load(Ordering::Relaxed),
            connections: s.connections.load(Ordering::Relaxed),
            refused: s.refused.load(Ordering::Relaxed),
            lagged: s.lagged.load(Ordering::Relaxed),
        }
    }

    /// Stops serving, closes every connection and waits for the server's tasks.
    pub async fn shutdown(self) {
        self.cancel.cancel();
        self.tracker.close();
        self.tracker.wait().await;
    }
}

impl Drop for MjpegServer {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// The camera: one frame per tick, shared by every client.
async fn produce(shared: Arc<Shared>, cancel: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / shared.opts.fps));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut n: u64 = 0;
    loop {
        tokio::select! {
            biased;
            _ = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        let x_timestamp = crate::domain::Timestamp::now().millis() as f64 / 1000.0;
        let produced = {
            let mut c = shared.control();
            let jpeg = match &c.shown {
                Some(scene) => scene[(n % scene.len() as u64) as usize].clone(),
                None => shared.frames[(n % shared.frames.len() as u64) as usize].clone(),
            };
            let fault = c.oneshot.pop_front().or(c.persistent);
            if let Some(f) = fault {
                c.log.push((n, f));
            }
            let p = Arc::new(Produced { jpeg, fault, x_timestamp });
            c.current = Some(p.clone());
            p
        };
        let _ = shared.tx.send(produced);
        shared.frames_produced.fetch_add(1, Ordering::Relaxed);
        n += 1;
    }
}

async fn accept(listener: TcpListener, shared: Arc<Shared>, cancel: CancellationToken, tracker: TaskTracker) {
    loop {
        let (sock, peer) = tokio::select! {
            biased;
            _ = cancel.cancelled() => return,
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::debug!(error = %e, "simulated camera: accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
        };
        let generation = {
            let c = shared.control();
            if c.down_until.is_some_and(|t| Instant::now() < t) {
                shared.refused.fetch_add(1, Ordering::Relaxed);
                drop(sock);
                continue;
            }
            c.generation.clone()
        };
        shared.connections.fetch_add(1, Ordering::Relaxed);
        let shared = shared.clone();
        tracker.spawn(async move {
            tokio::select! {
                biased;
                _ = generation.cancelled() => {}
                r = serve(sock, &shared, &generation) => {
                    if let Err(e) = r {
                        tracing::trace!(%peer, error = %e, "simulated camera: client gone");
                    }
                }
            }
        });
    }
}

async fn serve(mut sock: TcpStream, shared: &Shared, generation: &CancellationToken) -> std::io::Result<()> {
    let _ = sock.set_nodelay(true);
    // Subscribe before reading the request, so no frame between accept and the first part is missed.
    let rx = shared.tx.subscribe();
    let Some(req) = request::read(&mut sock).await else { return Ok(()) };
    if let Some((user, pass)) = &shared.opts.basic_auth
        && req.basic_auth.as_ref().is_none_or(|(u, p)| u != user || p != pass)
    {
        let r = render::plain("401 Unauthorized", "WWW-Authenticate: Basic realm=\"camera\"\r\n", "unauthorized\n");
        return sock.write_all(&r).await;
    }
    match req.route {
        Route::Stream => stream(sock, shared, rx, generation).await,
        Route::Snapshot => {
            let current = shared.control().current.clone();
            let r = match current {
                Some(p) => render::snapshot(&p.jpeg, p.fault),
                None => render::snapshot(&shared.frames[0], None),
            };
            write_rendered(&mut sock, &r).await?;
            shared.snapshots_sent.fetch_add(1, Ordering::Relaxed);
            sock.shutdown().await
        }
        Route::NotFound(path) => {
            sock.write_all(&render::plain("404 Not Found", "", &format!("no such path {path}\n"))).await
        }
        Route::MethodNotAllowed(m) => {
            sock.write_all(&render::plain("405 Method Not Allowed", "Allow: GET\r\n", &format!("{m} not allowed\n")))
                .await
        }
    }
}

async fn stream(
    mut sock: TcpStream,
    shared: &Shared,
    mut rx: broadcast::Receiver<Arc<Produced>>,
    generation: &CancellationToken,
) -> std::io::Result<()> {
    sock.write_all(&render::stream_head(&shared.opts)).await?;
    loop {
        let p = match rx.recv().await {
            Ok(p) => p,
            Err(broadcast::error::RecvError::Lagged(n)) => {
                shared.lagged.fetch_add(n, Ordering::Relaxed);
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => return Ok(()),
        };
        if generation.is_cancelled() {
            return Ok(());
        }
        let r = render::part(&p.jpeg, p.fault, &shared.opts, p.x_timestamp);
        write_rendered(&mut sock, &r).await?;
        shared.parts_sent.fetch_add(1, Ordering::Relaxed);
    }
}

async fn write_rendered(sock: &mut TcpStream, r: &render::Rendered) -> std::io::Result<()> {
    sock.write_all(&r.head).await?;
    if let Some(d) = r.stall {
        sock.flush().await?;
        tokio::time::sleep(d).await;
    }
    sock.write_all(&r.tail).await?;
    if r.close {
        sock.shutdown().await?;
        return Err(std::io::Error::new(std::io::ErrorKind::ConnectionAborted, "closed after a broken response"));
    }
    Ok(())
}
