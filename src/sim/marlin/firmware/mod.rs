//! The simulated Marlin firmware: serial framing checks (line numbers,
//! checksums, `Resend`), the command queue, blocking commands (moves, `M400`,
//! `M109`/`M190`, `G4`, `M600`), reports (`M105`, `M114`, `M115`, auto-reports)
//! and SD printing. Fed bytes and ticks with the current time; writes lines to
//! `out`. Its own checksum code is deliberately independent of the host's.

use std::collections::{BTreeSet, VecDeque};
use std::time::Duration;

use tokio::time::Instant;

mod commands;

use super::machine::{Axes, Heater, Planner, SdCard};
use super::{Fault, SimConfig};
use crate::printer::marlin::protocol::framing::{command_word, param};

/// Marlin's HOST_KEEPALIVE_INTERVAL.
const KEEPALIVE: Duration = Duration::from_secs(2);
/// Marlin prints heating progress once a second while it waits.
const HEAT_REPORT: Duration = Duration::from_secs(1);
/// Marlin's NO_TIMEOUTS: idle this long with an empty queue → `wait`.
const WAIT_AFTER: Duration = Duration::from_secs(1);

/// A command that cannot finish yet.
#[derive(Debug, Clone, PartialEq)]
enum Blocked {
    Move {
        target: [Option<f32>; 4],
        feed: Option<f32>,
    },
    /// `M400`: until the planner is empty.
    Sync,
    /// `G4`: planner empty, then this long.
    Dwell {
        wait: Duration,
        until: Option<Instant>,
    },
    Heat {
        bed: bool,
    },
    /// `M0`/`M1`/`M600`: until the user (or `M108`/`M876`) releases it.
    User,
    Home {
        until: Instant,
    },
}

#[derive(Debug, Clone)]
struct Current {
    blocked: Blocked,
    from_sd: bool,
    since: Instant,
}

pub struct Firmware {
    cfg: SimConfig,
    pub axes: Axes,
    pub hotend: Heater,
    pub bed: Heater,
    pub fan: f32,
    planner: Planner,
    pub sd: SdCard,
    pub last_n: u32,
    queue: VecDeque<String>,
    current: Option<Current>,
    /// Bytes to write: whole lines, or raw noise (`Garbage`, boot junk).
    pub out: Vec<Vec<u8>>,
    pub executed: Vec<String>,
    pub sd_executed: Vec<String>,
    pub killed: bool,
    pub progress: Option<f32>,
    pub rejected: u64,
    rx: Vec<u8>,
    resend_at: BTreeSet<u32>,
    corrupt_next: bool,
    drop_next_ok: bool,
    silent_until: Option<Instant>,
    temp_every: Option<Duration>,
    sd_every: Option<Duration>,
    pos_every: Option<Duration>,
    next_temp: Instant,
    next_sd: Instant,
    next_pos: Instant,
    last_keepalive: Instant,
    last_rx: Instant,
    last_wait: Instant,
    last_tick: Instant,
}

impl Firmware {
    pub fn new(cfg: SimConfig, now: Instant) -> Self {
        let ambient = cfg.ambient;
        Firmware {
            resend_at: cfg.resend_errors.iter().copied().collect(),
            planner: Planner::new(cfg.planner_size),
            cfg,
            axes: Axes::default(),
            hotend: Heater::new(ambient),
            bed: Heater::new(ambient),
            fan: 0.0,
            sd: SdCard::default(),
            last_n: 0,
            queue: VecDeque::new(),
            current: None,
            out: Vec::new(),
            executed: Vec::new(),
            sd_executed: Vec::new(),
            killed: false,
            progress: None,
            rejected: 0,
            rx: Vec::new(),
            corrupt_next: false,
            drop_next_ok: false,
            silent_until: None,
            temp_every: None,
            sd_every: None,
            pos_every: None,
            next_temp: now,
            next_sd: now,
            next_pos: now,
            last_keepalive: now,
            last_rx: now,
            last_wait: now,
            last_tick: now,
        }
    }

    fn say(&mut self, line: impl Into<String>) {
        let mut bytes = line.into().into_bytes();
        bytes.push(b'\n');
        self.out.push(bytes);
    }

    fn ok(&mut self) {
        if std::mem::take(&mut self.drop_next_ok) {
            return;
        }
        self.say("ok");
    }

    /// Power-on: boot-loader noise, then Marlin's banner. Everything volatile is lost.
    pub fn boot(&mut self, now: Instant) {
        let files = std::mem::take(&mut self.sd.files);
        *self = Firmware::new(self.cfg.clone(), now);
        self.sd.files = files;
        if !self.cfg.boot_junk.is_empty() {
            self.out.push(self.cfg.boot_junk.clone());
        }
        self.say("start");
        self.say("echo:Marlin 2.1.2.1");
        self.say("echo: Last Updated: 2023-07-18 | Author: (layerwatch sim)");
        self.say("echo:Free Memory: 3715  PlannerBufferBytes: 1344");
        self.say("echo:SD card ok");
    }

    pub fn inject(&mut self, fault: Fault, now: Instant) {
        match fault {
            Fault::CorruptNextLine => self.corrupt_next = true,
            Fault::ResendAt(n) => {
                self.resend_at.insert(n);
            }
            Fault::DropNextOk => self.drop_next_ok = true,
            Fault::Garbage(bytes) => self.out.push(bytes),
            Fault::Reset => self.boot(now),
            Fault::Kill => self.kill(),
            Fault::Silence(d) => self.silent_until = Some(now + d),
            Fault::Action(a) => self.say(format!("//action:{a}")),
        }
    }

    /// The LCD's "Print from SD" menu.
    pub fn lcd_start(&mut self, name: &str) {
        if let Some(size) = self.sd.files.get(name).map(Vec::len) {
            self.sd.selected = Some(name.to_string());
            self.sd.pos = 0;
            self.sd.printing = true;
            self.say(format!("File opened: {name} Size: {size}"));
            self.say("File selected");
        }
    }

    fn kill(&mut self) {
        self.say("Error:Printer halted. kill() called!");
        self.killed = true;
        self.queue.clear();
        self.current = None;
        self.planner.clear();
        self.hotend.target = 0.0;
        self.bed.target = 0.0;
        self.sd.printing = false;
    }

    pub fn is_silent(&self, now: Instant) -> bool {
        self.killed || self.is_muted(now)
    }

    /// Hung for a while (`Fault::Silence`): input waits, nothing is said.
    pub fn is_muted(&self, now: Instant) -> bool {
        self.silent_until.is_some_and(|t| now < t)
    }

    /// Bytes from the host.
    pub fn receive(&mut self, bytes: &[u8], now: Instant) {
        self.last_rx = now;
        if self.killed {
            return;
        }
        self.rx.extend_from_slice(bytes);
        if !self.is_muted(now) {
            self.drain_rx();
        }
    }

    fn drain_rx(&mut self) {
        while let Some(i) = self.rx.iter().position(|b| *b == b'\n' || *b == b'\r') {
            let line: Vec<u8> = self.rx.drain(..=i).collect();
            let text = String::from_utf8_lossy(&line[..line.len() - 1]).trim().to_string();
            if !text.is_empty() {
                self.on_line(&text);
            }
            if self.killed {
                return;
            }
        }
    }

    fn reject(&mut self, why: &str) {
        self.rejected += 1;
        let last = self.last_n;
        self.say(format!("Error:{why}, Last Line: {last}"));
        self.say(format!("Resend: {}", last + 1));
        self.ok();
    }

    fn on_line(&mut self, line: &str) {
        // The emergency parser acts on these as the bytes arrive, ahead of the queue.
        if self.cfg.caps.emergency_parser {
            let body = strip_number(line).0;
            let word = command_word(body).to_ascii_uppercase();
            match word.as_str() {
                "M112" => return self.kill(),
                "M108" | "M876" => self.release(),
                "M410" => self.planner.clear(),
                _ => {}
            }
        }
        let (text, star) = match line.rfind('*') {
            Some(i) => (&line[..i], Some(&line[i + 1..])),
            None => (line, None),
        };
        if let Some(cs) = star {
            let sum = text.bytes().fold(0u8, |a, b| a ^ b);
            let corrupt = std::mem::take(&mut self.corrupt_next) && text.starts_with('N');
            if cs.trim().parse::<u8>().ok() != Some(sum) || corrupt {
                return self.reject("checksum mismatch");
            }
        }
        let (body, number) = strip_number(text);
        let Some(n) = number else {
            if star.is_some() {
                return self.reject("No Line Number with checksum");
            }
            return self.queue.push_back(body.to_string());
        };
        if command_word(body).eq_ignore_ascii_case("M110") {
            self.last_n = param(body, 'N').map_or(n, |v| v as u32);
            return self.queue.push_back(body.to_string());
        }
        if star.is_none() {
            return self.reject("No Checksum with line number");
        }
        if n != self.last_n + 1 {
            return self.reject("Line Number is not Last Line Number+1");
        }
        if self.resend_at.remove(&n) {
            return self.reject("checksum mismatch");
        }
        self.last_n = n;
        self.queue.push_back(body.to_string());
    }

    /// Ends a wait for heaters or for the user (`M108`, `M876`).
    fn release(&mut self) {
        if let Some(c) = &self.current {
            if matches!(c.blocked, Blocked::User | Blocked::Heat { .. }) {
                let from_sd = c.from_sd;
                self.current = None;
                if !from_sd {
                    self.ok();
                }
                if self.cfg.caps.host_action_commands {
                    self.say("//action:resumed");
                }
            }
        }
    }

    fn sim_duration(&self, secs: f32) -> Duration {
        Duration::from_secs_f64((f64::from(secs) * self.cfg.time_scale).max(0.0))
    }

    /// Advances time: heaters, planner, reports, then runs queued commands.
    pub fn tick(&mut self, now: Instant) {
        let real = now.duration_since(self.last_tick).as_secs_f64();
        self.last_tick = now;
        let sim_secs = (real / self.cfg.time_scale.max(1e-6)) as f32;
        self.hotend.step(sim_secs, self.cfg.heat_rate, self.cfg.ambient);
        self.bed.step(sim_secs, self.cfg.heat_rate / 2.0, self.cfg.ambient);
        self.planner.retire(now);
        if self.is_silent(now) {
            return;
        }
        self.drain_rx();
        self.reports(now);
        for _ in 0..64 {
            if let Some(c) = self.current.clone() {
                if !self.try_finish(&c, now) {
                    self.keepalive(&c, now);
                    return;
                }
                self.current = None;
                if !c.from_sd {
                    self.ok();
                }
                continue;
            }
            let (cmd, from_sd) = match self.queue.pop_front() {
                Some(c) => (c, false),
                None if self.sd.printing => match self.sd.next_line() {
                    Some(raw) => {
                        let code = raw.split(';').next().unwrap_or("").trim().to_string();
                        if code.is_empty() {
                            continue;
                        }
                        (code, true)
                    }
                    None => {
                        // Marlin closes the file when it is done.
                        self.sd.printing = false;
                        self.sd.selected = None;
                        self.say("Done printing file");
                        continue;
                    }
                },
                None => break,
            };
            self.execute(&cmd, from_sd, now);
        }
        let idle = self.current.is_none() && self.queue.is_empty() && !self.sd.printing;
        if idle && now.duration_since(self.last_rx) >= WAIT_AFTER && now.duration_since(self.last_wait) >= WAIT_AFTER {
            self.last_wait = now;
            self.say("wait");
        }
    }

    fn reports(&mut self, now: Instant) {
        if let Some(every) = self.temp_every {
            if now >= self.next_temp {
                self.next_temp = now + every;
                let t = self.temp_line();
                self.say(t);
            }
        }
        if let Some(every) = self.sd_every {
            if now >= self.next_sd {
                self.next_sd = now + every;
                let s = self.sd_line();
                self.say(s);
            }
        }
        if let Some(every) = self.pos_every {
            if now >= self.next_pos {
                self.next_pos = now + every;
                let p = self.pos_line();
                self.say(p);
            }
        }
    }

    fn keepalive(&mut self, c: &Current, now: Instant) {
        match c.blocked {
            Blocked::Heat { bed } => {
                if now.duration_since(self.last_keepalive) >= HEAT_REPORT {
                    self.last_keepalive = now;
                    let line = if bed {
                        format!("T:{:.2} E:0 B:{:.1}", self.hotend.actual, self.bed.actual)
                    } else {
                        format!("T:{:.2} E:0 W:?", self.hotend.actual)
                    };
                    self.say(line);
                }
            }
            Blocked::User => {
                if now.duration_since(self.last_keepalive) >= KEEPALIVE {
                    self.last_keepalive = now;
                    self.say("echo:busy: paused for user");
                }
            }
            _ => {
                if now.duration_since(c.since) >= KEEPALIVE && now.duration_since(self.last_keepalive) >= KEEPALIVE {
                    self.last_keepalive = now;
                    self.say("echo:busy: processing");
                }
            }
        }
    }

    fn try_finish(&mut self, c: &Current, now: Instant) -> bool {
        match &c.blocked {
            Blocked::Move { target, feed } => {
                if !self.planner.has_room() {
                    return false;
                }
                let d = self.axes.apply_move(*target, *feed);
                let secs = d / (self.axes.feedrate / 60.0).max(0.1);
                self.planner.push(now, self.sim_duration(secs));
                true
            }
            Blocked::Sync => self.planner.is_empty(),
            Blocked::Dwell { wait, until } => match until {
                Some(t) => now >= *t,
                None => {
                    if self.planner.is_empty() {
                        let t = now + *wait;
                        if let Some(cur) = self.current.as_mut() {
                            cur.blocked = Blocked::Dwell {
                                wait: *wait,
                                until: Some(t),
                            };
                        }
                    }
                    false
                }
            },
            Blocked::Heat { bed } => {
                if *bed {
                    self.bed.reached()
                } else {
                    self.hotend.reached()
                }
            }
            Blocked::User => false,
            Blocked::Home { until } => now >= *until,
        }
    }

    fn block(&mut self, blocked: Blocked, from_sd: bool, now: Instant) {
        self.last_keepalive = now;
        let c = Current {
            blocked,
            from_sd,
            since: now,
        };
        if self.try_finish(&c, now) {
            if !from_sd {
                self.ok();
            }
        } else {
            self.current = Some(c);
        }
    }

    pub fn temp_line(&self) -> String {
        format!(
            "T:{:.2} /{:.2} B:{:.2} /{:.2} @:0 B@:0",
            self.hotend.actual, self.hotend.target, self.bed.actual, self.bed.target
        )
    }

    fn pos_line(&self) -> String {
        let [x, y, z, e] = self.axes.pos;
        format!(
            "X:{x:.2} Y:{y:.2} Z:{z:.2} E:{e:.2} Count X:{} Y:{} Z:{}",
            (x * 80.0) as i64,
            (y * 80.0) as i64,
            (z * 400.0) as i64
        )
    }

    fn sd_line(&self) -> String {
        match (self.sd.printing, self.sd.size()) {
            (true, Some(size)) => format!("SD printing byte {}/{size}", self.sd.pos),
            _ => "Not SD printing".to_string(),
        }
    }

    /// When the next thing happens on its own (for the driving task's sleep).
    pub fn busy(&self) -> bool {
        self.current.is_some() || !self.queue.is_empty() || self.sd.printing || !self.planner.is_empty()
    }
}

/// Splits a leading `N<digits>` from a line.
fn strip_number(line: &str) -> (&str, Option<u32>) {
    let Some(rest) = line.strip_prefix(['N', 'n']) else {
        return (line, None);
    };
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    match rest[..digits].parse() {
        Ok(n) if digits > 0 => (rest[digits..].trim_start(), Some(n)),
        _ => (line, None),
    }
}
