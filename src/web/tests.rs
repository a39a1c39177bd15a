//! The router over a real socket (127.0.0.1:0) with a fixed status source and
//! a recording command sink: health codes, status JSON, snapshots, the live
//! frame, commands and their CSRF/origin/token checks, the "not a failure"
//! dataset, server-sent events and shutdown, `/metrics` and the OpenAPI file.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::*;
use crate::actions::feedback_set::DatasetOutcome;
use crate::actions::{UserCommand, UserOutcome};
use crate::domain::{Level, Temperatures, Timestamp};
use crate::store::{IncidentCause, NewIncident, Store};

struct Fixed {
    health: Mutex<HealthReport>,
    updates: watch::Sender<u64>,
    frames: Mutex<Vec<LiveFrame>>,
    steps: Mutex<Vec<TimelineStep>>,
}

impl Fixed {
    fn new() -> Self {
        Fixed {
            health: Mutex::new(HealthReport::new(vec![])),
            updates: watch::channel(0).0,
            frames: Mutex::new(vec![]),
            steps: Mutex::new(vec![]),
        }
    }

    /// A judged frame arrives: one step, one live frame, one update.
    fn judge(&self, seq: u64, smoothed: f32) {
        let at = Timestamp(1_000 + seq as i64 * 250);
        self.frames.lock().unwrap().push(LiveFrame {
            seq,
            captured_at: at,
            jpeg: bytes::Bytes::from(format!("\u{ff}jpeg{seq}").into_bytes()),
            smoothed,
            level: Level::Ok,
        });
        self.steps.lock().unwrap().push(TimelineStep {
            at,
            frame_seq: Some(seq),
            printer: "printing".into(),
            layer: Some(seq as u32 / 4),
            layer_count: Some(10),
            raw: smoothed,
            smoothed,
            level: Level::Ok,
            kind: None,
            gate: "judged".into(),
            pause_level: Some(0.6),
            latency_ms: 12.0,
            geometry: None,
        });
        self.updates.send_modify(|n| *n += 1);
    }
}

impl StatusSource for Fixed {
    fn status(&self) -> ApiStatus {
        ApiStatus {
            name: "bench <one>".into(),
            version: "test".into(),
            started_at: Timestamp(0),
            uptime_s: 1.5,
            printer: PrinterDto {
                link: "none".into(),
                state: "idle".into(),
                job: None,
                layer: None,
                layer_count: None,
                temps: Temperatures::default(),
                since: Timestamp(0),
                gcode: "none".into(),
            },
            camera: CameraDto {
                name: "cam".into(),
                state: "streaming".into(),
                fps: 2.0,
                frames: 10,
                dropped: 1,
                bad_frames: 0,
                reconnects: 0,
                last_frame_at: None,
                last_error: None,
            },
            vision: VisionDto::default(),
            decision: None,
            outbox: OutboxDto::default(),
            stages: vec![],
            findings: vec![],
            health: self.health(),
            mute: None,
            geometry: None,
        }
    }

    fn health(&self) -> HealthReport {
        self.health.lock().unwrap().clone()
    }

    fn updates(&self) -> Option<watch::Receiver<u64>> {
        Some(self.updates.subscribe())
    }

    fn live_frames(&self) -> Vec<LiveFrame> {
        self.frames.lock().unwrap().clone()
    }

    fn recent_steps(&self) -> Vec<TimelineStep> {
        self.steps.lock().unwrap().clone()
    }
}

/// The fake command sink: records, answers like the engine would.
#[derive(Default)]
struct Recorder {
    commands: Mutex<Vec<(UserCommand, Option<String>)>>,
}

#[async_trait::async_trait]
impl CommandSink for Recorder {
    async fn user_command(&self, command: UserCommand, who: Option<String>) -> Result<UserOutcome, CommandError> {
        if let UserCommand::NotAFailure { incident: 404, .. } = command {
            return Err(CommandError::UnknownIncident(404));
        }
        self.commands.lock().unwrap().push((command.clone(), who));
        let mut out = UserOutcome::note(format!("did {command:?}"));
        if let UserCommand::NotAFailure { incident, .. } = command {
            out.closed_incident = Some(incident);
            out.dataset = Some(DatasetOutcome::Saved { labels: "feedback/labels.csv".into(), images: 3 });
        }
        Ok(out)
    }

    async fn objects(&self) -> Result<crate::printer::objects::ObjectList, CommandError> {
        use crate::printer::objects::{ObjectList, ObjectState, ObjectView};
        let view = |index, name: &str, state| ObjectView {
            index,
            name: name.into(),
            state,
            bbox: Some([0.0, 0.0, 10.0, 10.0]),
            center: Some([5.0, 5.0]),
            first_layer: Some(0),
            last_layer: Some(9),
        };
        Ok(ObjectList {
            file: Some("two.gcode".into()),
            layer: Some(3),
            objects: vec![view(0, "cube", ObjectState::Printing), view(1, "tee id:1", ObjectState::Cancelled)],
        })
    }
}

struct Server {
    url: String,
    fixed: Arc<Fixed>,
    sink: Arc<Recorder>,
    cancel: CancellationToken,
    done: tokio::task::JoinHandle<Result<(), WebError>>,
}

async fn start_with(store: Option<Store>, token: Option<&str>) -> Server {
    crate::net::install_tls_provider();
    let fixed = Arc::new(Fixed::new());
    let sink = Arc::new(Recorder::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let cancel = CancellationToken::new();
    let state = WebState::new(fixed.clone(), store).with_commands(sink.clone()).with_token(token.map(String::from));
    let done = tokio::spawn(serve(state, listener, cancel.clone()));
    Server { url, fixed, sink, cancel, done }
}

async fn start(store: Option<Store>) -> Server {
    start_with(store, None).await
}

/// The CSRF token the page was served with.
async fn page_csrf(client: &reqwest::Client, url: &str, cookie: Option<&str>) -> String {
    let mut req = client.get(format!("{url}/"));
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    let html = req.send().await.unwrap().text().await.unwrap();
    let at = html.find("name=\"csrf\" content=\"").expect("csrf meta") + 21;
    html[at..at + 64].to_string()
}

/// Issue 13 item 7: slow-header and idle keep-alive connections were kept 95 s or more (no timeout at all).
#[tokio::test]
async fn slow_header_and_idle_connections_are_closed_after_the_header_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    crate::net::install_tls_provider();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let cancel = CancellationToken::new();
    let state = WebState::new(Arc::new(Fixed::new()), None).with_header_timeout(Duration::from_millis(400));
    let done = tokio::spawn(serve(state, listener, cancel.clone()));
    // Reads until the server closes; what it sent, and how long that took.
    async fn until_closed(c: &mut tokio::net::TcpStream) -> (String, Duration) {
        let start = std::time::Instant::now();
        let mut got = vec![];
        let mut buf = [0u8; 4096];
        loop {
            match tokio::time::timeout(Duration::from_secs(5), c.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&got).into_owned(), start.elapsed()),
                Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
                Err(_) => panic!("connection still open after 5 s; got {:?}", String::from_utf8_lossy(&got)),
            }
        }
    }
    // A request line and one header, then nothing: closed after the timeout without an answer.
    let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n").await.unwrap();
    let (got, took) = until_closed(&mut slow).await;
    assert!(!got.contains("200 OK"), "{got}");
    assert!(took >= Duration::from_millis(300) && took < Duration::from_secs(3), "closed after {took:?}");
    // A connection that never sends a byte is closed the same way.
    let mut silent = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (_, took) = until_closed(&mut silent).await;
    assert!(took < Duration::from_secs(3), "closed after {took:?}");
    // A complete keep-alive request is answered, then the idle connection is closed.
    let mut idle = tokio::net::TcpStream::connect(addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").await.unwrap();
    let (got, took) = until_closed(&mut idle).await;
    assert!(got.starts_with("HTTP/1.1 200 OK"), "{got}");
    assert!(took >= Duration::from_millis(300) && took < Duration::from_secs(3), "idle connection closed after {took:?}");
    // The server itself is fine and stops on its token.
    let r = reqwest::get(format!("http://{addr}/healthz")).await.unwrap();
    assert_eq!(r.status(), 200);
    cancel.cancel();
    tokio::time::timeout(Duration::from_secs(5), done).await.expect("stops").unwrap().unwrap();
}

#[tokio::test]
async fn healthz_follows_the_status_source() {
    let s = start(None).await;
    let r = reqwest::get(format!("{}/healthz", s.url)).await.unwrap();
    assert_eq!(r.status(), 200);
    *s.fixed.health.lock().unwrap() = HealthReport::new(vec!["printer disconnected".into()]);
    let r = reqwest::get(format!("{}/healthz", s.url)).await.unwrap();
    assert_eq!(r.status(), 503);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["problems"][0], "printer disconnected");
    let status: serde_json::Value = reqwest::get(format!("{}/api/status", s.url)).await.unwrap().json().await.unwrap();
    assert_eq!(status["camera"]["dropped"], 1);
    assert_eq!(status["health"]["ok"], false);
    s.cancel.cancel();
}

#[tokio::test]
async fn snapshots_are_served_from_the_store_and_bad_ids_are_404() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&Default::default(), dir.path()).await.unwrap();
    let id = store.save_snapshot(b"\xff\xd8jpeg\xff\xd9".to_vec(), Timestamp::now(), None).await.unwrap();
    let s = start(Some(store)).await;
    let r = reqwest::get(format!("{}/api/snapshots/{id}.jpg", s.url)).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "image/jpeg");
    assert_eq!(&r.bytes().await.unwrap()[..], b"\xff\xd8jpeg\xff\xd9");
    for bad in [format!("{id}"), "nope.jpg".into(), "..%2Fetc.jpg".into(), format!("{id}.png")] {
        let r = reqwest::get(format!("{}/api/snapshots/{bad}", s.url)).await.unwrap();
        assert_eq!(r.status(), 404, "{bad}");
    }
    s.cancel.cancel();
}

#[tokio::test]
async fn the_page_escapes_the_name_and_the_live_frame_is_the_newest() {
    let s = start(None).await;
    let html = reqwest::get(format!("{}/", s.url)).await.unwrap().text().await.unwrap();
    assert!(html.contains("bench &lt;one&gt;") && !html.contains("bench <one>"), "{html}");
    assert_eq!(reqwest::get(format!("{}/api/live.jpg", s.url)).await.unwrap().status(), 404);
    s.fixed.judge(7, 0.25);
    s.fixed.judge(8, 0.5);
    let r = reqwest::get(format!("{}/api/live.jpg", s.url)).await.unwrap();
    assert_eq!(r.headers()["x-frame-seq"], "8");
    assert_eq!(r.headers()["x-score"], "0.5000");
    assert_eq!(&r.bytes().await.unwrap()[..], "\u{ff}jpeg8".as_bytes());
    for (path, kind) in [("/assets/app.js", "text/javascript"), ("/assets/app.css", "text/css")] {
        let r = reqwest::get(format!("{}{path}", s.url)).await.unwrap();
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with(kind), "{path}");
    }
    s.cancel.cancel();
}

#[tokio::test]
async fn commands_need_post_same_origin_and_the_page_csrf_token() {
    let s = start(None).await;
    let c = reqwest::Client::new();
    let csrf = page_csrf(&c, &s.url, None).await;
    let pause = format!("{}/api/printer/pause", s.url);
    assert_eq!(c.get(&pause).send().await.unwrap().status(), 405);
    assert_eq!(c.post(&pause).send().await.unwrap().status(), 403);
    let r = c.post(&pause).header("x-csrf-token", &csrf).header("origin", "http://evil.example").send().await.unwrap();
    assert_eq!(r.status(), 403);
    assert!(s.sink.commands.lock().unwrap().is_empty(), "a refused request reached the engine");
    let r = c.post(&pause).header("x-csrf-token", &csrf).header("origin", &s.url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let cancel = format!("{}/api/printer/cancel", s.url);
    let r = c.post(&cancel).header("x-csrf-token", &csrf).body("{}").send().await.unwrap();
    assert_eq!(r.status(), 400, "cancel without confirm");
    let r = c.post(&cancel).header("x-csrf-token", &csrf).body(r#"{"confirm":true}"#).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = c.post(format!("{}/api/printer/resume", s.url)).header("x-csrf-token", &csrf).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = c.post(format!("{}/api/mute", s.url)).header("x-csrf-token", &csrf).body(r#"{"minuts":5}"#).send().await;
    assert_eq!(r.unwrap().status(), 400, "unknown field");
    let r = c.post(format!("{}/api/mute", s.url)).header("x-csrf-token", &csrf).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let forget = format!("{}/api/camera-memory/reset", s.url);
    assert_eq!(c.post(&forget).send().await.unwrap().status(), 403, "a command without the CSRF header");
    let r = c.post(&forget).header("x-csrf-token", &csrf).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let got: Vec<_> = s.sink.commands.lock().unwrap().iter().map(|(c, w)| format!("{c:?} by {w:?}")).collect();
    expect_test::expect![[r#"
        [
            "Pause by Some(\"dashboard\")",
            "Cancel by Some(\"dashboard\")",
            "Resume by Some(\"dashboard\")",
            "Mute { minutes: None } by Some(\"dashboard\")",
            "ForgetCamera by Some(\"dashboard\")",
        ]
    "#]]
    .assert_debug_eq(&got);
    s.cancel.cancel();
}

#[tokio::test]
async fn with_a_token_reads_need_it_and_the_login_cookie_works_with_csrf() {
    let token = "0123456789abcdef-secret";
    let s = start_with(None, Some(token)).await;
    let c = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    assert_eq!(c.get(format!("{}/healthz", s.url)).send().await.unwrap().status(), 200);
    assert_eq!(c.get(format!("{}/api/status", s.url)).send().await.unwrap().status(), 401);
    assert_eq!(c.get(format!("{}/metrics", s.url)).send().await.unwrap().status(), 401);
    assert_eq!(c.get(format!("{}/", s.url)).send().await.unwrap().headers()["location"], "/login");
    let r = c.get(format!("{}/api/status", s.url)).bearer_auth(token).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = c.post(format!("{}/login", s.url)).form(&[("token", "wrong")]).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(!r.text().await.unwrap().contains(token));
    let r = c.post(format!("{}/login", s.url)).form(&[("token", token)]).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let set = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(set.contains("HttpOnly") && set.contains("SameSite=Strict"), "{set}");
    let cookie = set.split(';').next().unwrap().to_string();
    let csrf = page_csrf(&c, &s.url, Some(&cookie)).await;
    let pause = format!("{}/api/printer/pause", s.url);
    assert_eq!(c.post(&pause).header("cookie", &cookie).send().await.unwrap().status(), 403);
    let r = c.post(&pause).header("cookie", &cookie).header("x-csrf-token", &csrf).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = c.post(&pause).bearer_auth(token).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let who: Vec<_> = s.sink.commands.lock().unwrap().iter().map(|(_, w)| w.clone().unwrap()).collect();
    assert_eq!(who, ["dashboard (signed in)", "api token"]);
    s.cancel.cancel();
}

#[test]
fn non_loopback_without_a_token_is_refused() {
    let lan: std::net::SocketAddr = "192.168.1.5:8484".parse().unwrap();
    let err = check_bind(lan, false).unwrap_err();
    assert_eq!(
        err.to_string(),
        "refusing to serve on 192.168.1.5:8484 without web.token: only loopback addresses may go without one"
    );
    assert!(!check_bind(lan, true).unwrap());
    assert!(check_bind("127.0.0.1:0".parse().unwrap(), false).unwrap());
}

#[tokio::test]
async fn not_a_failure_goes_to_the_engine_and_its_answer_comes_back() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&Default::default(), dir.path()).await.unwrap();
    let snap = store.save_snapshot(b"\xff\xd8snap\xff\xd9".to_vec(), Timestamp(5), None).await.unwrap();
    store
        .open_incident(NewIncident {
            print_id: None,
            opened_at: Timestamp(5),
            level: Level::Failure,
            cause: IncidentCause::Spaghetti,
            confidence: 0.9,
            layer: Some(3),
            layer_count: Some(10),
            snapshot_id: Some(snap.to_string()),
            holds_printer: true,
            note: String::new(),
        })
        .await
        .unwrap();
    let s = start_with(Some(store), None).await;
    let c = reqwest::Client::new();
    let csrf = page_csrf(&c, &s.url, None).await;
    let r = c
        .post(format!("{}/api/incidents/7/not-a-failure", s.url))
        .header("x-csrf-token", &csrf)
        .body(r#"{"resume":true}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["closed_incident"], 7, "{body}");
    assert_eq!(body["dataset"]["images"], 3, "{body}");
    assert_eq!(body["dataset"]["labels"], "feedback/labels.csv", "{body}");
    let got = s.sink.commands.lock().unwrap().clone();
    assert_eq!(got, [(UserCommand::NotAFailure { incident: 7, resume: true }, Some("dashboard".to_string()))]);
    let r = c.post(format!("{}/api/incidents/404/not-a-failure", s.url)).header("x-csrf-token", &csrf).send().await;
    assert_eq!(r.unwrap().status(), 404);
    let r = c.post(format!("{}/api/incidents/x1/not-a-failure", s.url)).header("x-csrf-token", &csrf).send().await;
    assert_eq!(r.unwrap().status(), 400);
    // The incident list carries its snapshot URL.
    let list: serde_json::Value = c.get(format!("{}/api/incidents", s.url)).send().await.unwrap().json().await.unwrap();
    assert_eq!(list[0]["snapshot_url"], format!("/api/snapshots/{snap}.jpg"));
    s.cancel.cancel();
}

/// Reads server-sent events until `n` `status` events arrived; returns their data.
async fn read_events(resp: &mut reqwest::Response, n: usize) -> Vec<serde_json::Value> {
    let mut buf = String::new();
    let mut out = Vec::new();
    while out.len() < n {
        let chunk = tokio::time::timeout(Duration::from_secs(5), resp.chunk()).await.expect("an event").unwrap();
        buf.push_str(&String::from_utf8_lossy(&chunk.expect("stream open")));
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            if block.contains("event: status") {
                let data: String = block.lines().filter_map(|l| l.strip_prefix("data: ")).collect();
                out.push(serde_json::from_str(&data).unwrap());
            }
        }
    }
    out
}

#[tokio::test]
async fn events_carry_status_and_new_steps_and_end_at_shutdown() {
    let s = start(None).await;
    s.fixed.judge(1, 0.1);
    let mut resp = reqwest::get(format!("{}/api/events", s.url)).await.unwrap();
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let first = read_events(&mut resp, 1).await;
    assert_eq!(first[0]["frame_seq"], 1);
    assert_eq!(first[0]["steps"].as_array().unwrap().len(), 0, "history comes from /api/timeline");
    assert_eq!(first[0]["status"]["name"], "bench <one>");
    s.fixed.judge(2, 0.2);
    s.fixed.judge(3, 0.3);
    let next = read_events(&mut resp, 1).await;
    let seqs: Vec<_> = next[0]["steps"].as_array().unwrap().iter().map(|s| s["frame_seq"].clone()).collect();
    assert_eq!(seqs, [2, 3]);
    assert_eq!(next[0]["frame_seq"], 3);
    s.cancel.cancel();
    let done = tokio::time::timeout(Duration::from_secs(5), s.done).await.expect("server stopped with a stream open");
    assert!(done.unwrap().is_ok());
    let rest = tokio::time::timeout(Duration::from_secs(5), async { while let Ok(Some(_)) = resp.chunk().await {} });
    rest.await.expect("the event stream ended");
}

#[tokio::test]
async fn metrics_are_prometheus_text() {
    let s = start(None).await;
    let r = reqwest::get(format!("{}/metrics", s.url)).await.unwrap();
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/plain; version=0.0.4"));
    let text = r.text().await.unwrap();
    assert!(text.contains("layerwatch_frames_dropped_total{camera=\"cam\"} 1\n"), "{text}");
    s.cancel.cancel();
}

#[test]
fn metrics_render_a_latency_histogram_verdicts_and_alerts() {
    let fixed = Fixed::new();
    let mut status = fixed.status();
    status.camera.name = "cam \"a\"".into();
    let mut c = Counters::default();
    for ms in [3.0, 12.0, 15.0, 90.0, 5000.0, f32::NAN] {
        c.observe_latency(ms);
    }
    c.verdicts_ok = 7;
    c.verdicts_failure = 1;
    c.printer_reconnects = 2;
    let text = metrics::render(&status, &c, &[]);
    let pick: Vec<_> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.starts_with("layerwatch_inference_latency")
                || l.starts_with("layerwatch_verdicts")
                || l.contains("reconnects_total")
                || l.starts_with("layerwatch_frames_total")
        })
        .collect();
    expect_test::expect![[r#"
        layerwatch_frames_total{camera="cam \"a\""} 10
        layerwatch_camera_reconnects_total{camera="cam \"a\""} 0
        layerwatch_inference_latency_seconds_bucket{le="0.005"} 1
        layerwatch_inference_latency_seconds_bucket{le="0.01"} 1
        layerwatch_inference_latency_seconds_bucket{le="0.02"} 3
        layerwatch_inference_latency_seconds_bucket{le="0.04"} 3
        layerwatch_inference_latency_seconds_bucket{le="0.08"} 3
        layerwatch_inference_latency_seconds_bucket{le="0.16"} 4
        layerwatch_inference_latency_seconds_bucket{le="0.32"} 4
        layerwatch_inference_latency_seconds_bucket{le="0.64"} 4
        layerwatch_inference_latency_seconds_bucket{le="1.28"} 4
        layerwatch_inference_latency_seconds_bucket{le="2.56"} 4
        layerwatch_inference_latency_seconds_bucket{le="+Inf"} 5
        layerwatch_inference_latency_seconds_sum 5.12
        layerwatch_inference_latency_seconds_count 5
        layerwatch_verdicts_total{level="ok"} 7
        layerwatch_verdicts_total{level="warning"} 0
        layerwatch_verdicts_total{level="failure"} 1
        layerwatch_printer_reconnects_total 2
    "#]]
    .assert_eq(&(pick.join("\n") + "\n"));
    // Every sample line belongs to a declared metric.
    let declared: Vec<_> =
        text.lines().filter_map(|l| l.strip_prefix("# TYPE ")).map(|l| l.split(' ').next().unwrap()).collect();
    for l in text.lines().filter(|l| !l.starts_with('#')) {
        let name = l.split(['{', ' ']).next().unwrap();
        let base = name.trim_end_matches("_bucket").trim_end_matches("_sum").trim_end_matches("_count");
        assert!(declared.contains(&name) || declared.contains(&base), "{l}");
    }
}

#[tokio::test]
async fn every_documented_path_is_routed_and_every_route_documented() {
    let s = start(None).await;
    let spec: serde_json::Value =
        reqwest::get(format!("{}/api/openapi.json", s.url)).await.unwrap().json().await.unwrap();
    assert_eq!(spec["openapi"], "3.1.0");
    let c = reqwest::Client::new();
    let mut paths = vec![];
    for (path, ops) in spec["paths"].as_object().unwrap() {
        paths.push(path.clone());
        let concrete = path.replace("{id}", "1");
        for method in ops.as_object().unwrap().keys() {
            let req = match method.as_str() {
                "get" if path == "/api/events" => continue,
                "get" => c.get(format!("{}{concrete}", s.url)),
                "post" => c.post(format!("{}{concrete}", s.url)),
                other => panic!("unexpected method {other}"),
            };
            let r = req.send().await.unwrap();
            let code = r.status().as_u16();
            let body = r.text().await.unwrap();
            assert!(code != 405 && !(code == 404 && body.is_empty()), "{method} {path}: not routed ({code})");
        }
    }
    paths.sort();
    let mut routed = vec![
        "/healthz",
        "/metrics",
        "/api/openapi.json",
        "/api/status",
        "/api/events",
        "/api/live.jpg",
        "/api/overlay",
        "/api/timeline",
        "/api/prints",
        "/api/prints/{id}/timeline",
        "/api/prints/{id}/timelapse.mp4",
        "/api/incidents",
        "/api/config",
        "/api/snapshots/{id}.jpg",
        "/api/printer/pause",
        "/api/printer/resume",
        "/api/printer/cancel",
        "/api/incidents/{id}/not-a-failure",
        "/api/incidents/{id}/acknowledge",
        "/api/mute",
        "/api/unmute",
        "/api/camera-memory/reset",
        "/api/objects",
        "/api/objects/{name}/cancel",
        "/api/calibration/solve",
        "/api/calibration/save",
    ];
    routed.sort();
    assert_eq!(paths, routed);
    s.cancel.cancel();
}

#[tokio::test]
async fn objects_are_listed_and_one_is_cancelled_through_the_command_path() {
    let s = start(None).await;
    let c = reqwest::Client::new();
    let list: serde_json::Value = c.get(format!("{}/api/objects", s.url)).send().await.unwrap().json().await.unwrap();
    assert_eq!(list["file"], "two.gcode");
    assert_eq!(list["objects"][1]["name"], "tee id:1");
    assert_eq!(list["objects"][1]["state"], "cancelled");
    let csrf = page_csrf(&c, &s.url, None).await;
    let url = format!("{}/api/objects/tee%20id%3A1/cancel", s.url);
    assert_eq!(c.post(&url).body(r#"{"confirm":true}"#).send().await.unwrap().status(), 403, "no CSRF header");
    let r = c.post(&url).header("x-csrf-token", &csrf).send().await.unwrap();
    assert_eq!(r.status(), 400, "cancelling an object needs confirm");
    let r = c.post(&url).header("x-csrf-token", &csrf).body(r#"{"confirm":true}"#).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let got: Vec<_> = s.sink.commands.lock().unwrap().iter().map(|(c, w)| format!("{c:?} by {w:?}")).collect();
    assert_eq!(got, ["CancelObject { name: \"tee id:1\" } by Some(\"dashboard\")"]);
    s.cancel.cancel();
}

/// Issue 12: calibrating on the dashboard. Clicked points of a known camera solve back to it, a
/// poor fit is refused and not written, and `save` writes `[camera] geometry` only when accepted.
#[tokio::test]
async fn dashboard_calibration_solves_clicked_points_and_saves_only_an_accepted_fit() {
    use crate::geometry::{BedArea, Camera, CameraFile};
    crate::net::install_tls_provider();
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("cameras/mk3.toml");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let cancel = CancellationToken::new();
    let mut state = WebState::new(Arc::new(Fixed::new()), None);
    state.config = Arc::new(serde_json::json!({ "camera": { "geometry": target.display().to_string() } }));
    let done = tokio::spawn(serve(state, listener, cancel.clone()));
    let c = reqwest::Client::new();
    let html = c.get(format!("{url}/calibrate")).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("assets/calibrate.js") && html.contains(&target.display().to_string()), "{html}");
    let at = html.find("name=\"csrf\" content=\"").expect("csrf meta") + 21;
    let csrf = html[at..at + 64].to_string();
    let js = c.get(format!("{url}/assets/calibrate.js")).send().await.unwrap();
    assert_eq!(js.status(), 200);

    let cam = Camera::look_at(640, 480, [110.0, -160.0, 180.0], [110.0, 110.0, 10.0], 60.0);
    let bed = BedArea { size_mm: [220.0, 220.0], origin_mm: [0.0, 0.0] };
    let mut pts: Vec<[f64; 3]> = bed.corners().to_vec();
    pts.extend([[110.0, 110.0, 20.0], [110.0, 110.0, 80.0], [60.0, 150.0, 50.0]]);
    let body = |jitter: f64, n: usize| {
        let points: Vec<_> = pts[..n]
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let px = cam.project(*p).unwrap();
                let j = if i % 2 == 0 { jitter } else { -jitter };
                serde_json::json!({ "bed_mm": p, "px": [px[0] + j, px[1] - j] })
            })
            .collect();
        serde_json::json!({ "frame_size": [640, 480], "bed": { "size_mm": [220.0, 220.0] }, "points": points })
            .to_string()
    };
    let post = |path: &str, b: String| {
        c.post(format!("{url}/api/calibration/{path}")).header("x-csrf-token", &csrf).body(b).send()
    };
    // Exact clicks: accepted, the camera comes back, nothing written by `solve`.
    let r = post("solve", body(0.0, 7)).await.unwrap();
    assert_eq!(r.status(), 200);
    let j: serde_json::Value = r.json().await.unwrap();
    assert_eq!(j["accepted"], true, "{j}");
    assert!(j["rms_px"].as_f64().unwrap() < 0.05, "{j}");
    assert_eq!(j["residual_px"].as_array().unwrap().len(), 7);
    let file = CameraFile::parse(j["camera_toml"].as_str().unwrap(), "reply").unwrap();
    let centre = file.camera().center();
    assert!((centre[1] + 160.0).abs() < 1.0 && (centre[2] - 180.0).abs() < 1.0, "{centre:?}");
    assert!(!target.exists());
    // Clicks 12 px off: refused with the reason, and `save` writes nothing (422, the fit in the body).
    let r = post("save", body(12.0, 7)).await.unwrap();
    assert_eq!(r.status(), 422);
    let j: serde_json::Value = r.json().await.unwrap();
    assert_eq!(j["accepted"], false, "{j}");
    assert!(j["refused"].as_str().unwrap().contains("the fit is poor"), "{j}");
    assert!(!target.exists());
    // Too few points: the solver's reason.
    let r = post("solve", body(0.0, 5)).await.unwrap();
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("at least 6"));
    // A malformed body names the field.
    let r = post("solve", r#"{"frame_size":[640,480],"bed":{"size_mm":[220,220]},"pointz":[]}"#.into()).await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("pointz"));
    // Without the page's CSRF token: refused.
    let r = c.post(format!("{url}/api/calibration/save")).body(body(0.0, 7)).send().await.unwrap();
    assert_eq!(r.status(), 403);
    assert!(!target.exists());
    // An accepted fit saved: the file loads as a camera file.
    let r = post("save", body(0.5, 7)).await.unwrap();
    assert_eq!(r.status(), 200);
    let j: serde_json::Value = r.json().await.unwrap();
    assert_eq!(j["written"], target.display().to_string());
    CameraFile::parse(&std::fs::read_to_string(&target).unwrap(), "saved").unwrap();
    cancel.cancel();
    done.await.unwrap().unwrap();

    // No camera file configured: `save` says how to set one.
    let s = start(None).await;
    let csrf = page_csrf(&c, &s.url, None).await;
    let r = c
        .post(format!("{}/api/calibration/save", s.url))
        .header("x-csrf-token", &csrf)
        .body(body(0.0, 7))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    assert!(r.text().await.unwrap().contains("[camera] geometry"));
    s.cancel.cancel();
}
