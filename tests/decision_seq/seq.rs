//! The `.seq` format: a score sequence plus what must come of it, run against
//! the real `Decider` on a simulated clock. The format is described in
//! `tests/data/decision/README.md`.

use std::collections::HashMap;

use layerwatch::config::Config;
use layerwatch::decision::{DecisionParams, Feedback, Gate};
use layerwatch::domain::{HealthFinding, Level};

use super::rng::Rng;
use super::scores::{GoodNoise, clear_failure};
use super::sim::{Event, GcodeSetup, PState, Sim};

/// The outcome of one file: the timeline text and the expectations that failed.
pub struct Outcome {
    pub timeline: String,
    pub failed: Vec<String>,
}

struct Runner {
    name: String,
    params: Option<DecisionParams>,
    config_lines: Vec<String>,
    sim: Option<Sim>,
    rng: Rng,
    noise: GoodNoise,
    /// Segment start: index into `sim.events` and time.
    mark: (usize, i64, String),
    failed: Vec<String>,
}

pub fn run(name: &str, text: &str) -> Outcome {
    let mut r = Runner {
        name: name.to_string(),
        params: None,
        config_lines: Vec::new(),
        sim: None,
        rng: Rng::new(1),
        noise: GoodNoise::new(),
        mark: (0, 0, "start".into()),
        failed: Vec::new(),
    };
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        if let Err(e) = r.line(line) {
            panic!("{name}:{}: {e}\n  {line}", i + 1);
        }
    }
    let timeline = r.render();
    Outcome { timeline, failed: r.failed }
}

type Args<'a> = HashMap<&'a str, &'a str>;

fn args<'a>(words: &[&'a str]) -> Args<'a> {
    words.iter().filter_map(|w| w.split_once('=')).collect()
}

/// `2000ms`, `30s`, `5m`, `10h` → ms.
pub fn duration(s: &str) -> Result<i64, String> {
    let (num, mul) = if let Some(n) = s.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1000.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60_000.0)
    } else if let Some(n) = s.strip_suffix('h') {
        (n, 3_600_000.0)
    } else {
        return Err(format!("duration {s:?} needs a unit (ms, s, m, h)"));
    };
    let v: f64 = num.parse().map_err(|_| format!("bad duration {s:?}"))?;
    Ok((v * mul).round() as i64)
}

/// `2000ms` or `1000..7000ms` (uniform per frame).
fn interval(s: &str) -> Result<(i64, i64), String> {
    match s.split_once("..") {
        Some((lo, hi)) => {
            let unit = hi.trim_start_matches(|c: char| c.is_ascii_digit() || c == '.');
            Ok((duration(&format!("{lo}{unit}"))?, duration(hi)?))
        }
        None => duration(s).map(|d| (d, d)),
    }
}

/// `0.05±0.04` or `0.05`.
fn prob(s: &str) -> Result<(f32, f32), String> {
    let (m, d) = s.split_once('±').or_else(|| s.split_once("+-")).unwrap_or((s, "0"));
    let m: f32 = m.parse().map_err(|_| format!("bad probability {s:?}"))?;
    let d: f32 = d.parse().map_err(|_| format!("bad spread {s:?}"))?;
    Ok((m, d))
}

fn num<T: std::str::FromStr>(s: Option<&&str>, what: &str) -> Result<T, String> {
    let s = s.ok_or_else(|| format!("missing {what}"))?;
    s.parse().map_err(|_| format!("bad {what} {s:?}"))
}

fn on_off(s: &str) -> Result<bool, String> {
    match s {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err(format!("expected on or off, got {s:?}")),
    }
}

fn secs(ms: i64) -> String {
    format!("{:.1}s", ms as f64 / 1000.0)
}

impl Runner {
    fn sim(&mut self) -> Result<&mut Sim, String> {
        if self.sim.is_none() {
            let params = match self.params.take() {
                Some(p) => p,
                None => {
                    let text = format!("[decision]\n{}\n", self.config_lines.join("\n"));
                    let cfg = Config::from_toml_str(&text).map_err(|e| format!("config: {e}"))?;
                    let cal = layerwatch::decision::Calibration::default();
                    DecisionParams::from_config(&cfg.decision, &cal)
                }
            };
            self.sim = Some(Sim::new(&params));
        }
        self.sim.as_mut().ok_or_else(|| "no simulation".to_string())
    }

    fn line(&mut self, line: &str) -> Result<(), String> {
        let words: Vec<&str> = line.split_whitespace().collect();
        let a = args(&words);
        match words[0] {
            "config" => {
                if self.sim.is_some() {
                    return Err("config must come before everything else".into());
                }
                self.config_lines.extend(words[1..].iter().map(|w| w.replacen('=', " = ", 1)));
            }
            "seed" => self.rng = Rng::new(num(words.get(1), "seed")?),
            "printer" => {
                let state = words.get(1).and_then(|s| PState::parse(s)).ok_or("unknown printer state")?;
                let sim = self.sim()?;
                sim.printer.state = state;
                if let Some(f) = a.get("file") {
                    sim.printer.file = f.to_string();
                }
                if words.contains(&"restart") {
                    sim.restart_print();
                }
                sim.note(format!("printer {}", words[1..].join(" ")));
            }
            "layer" => {
                let layer = match words.get(1) {
                    Some(&"none") => None,
                    w => Some(num(w, "layer")?),
                };
                self.sim()?.printer.layer = layer;
            }
            "layers" => {
                let every = match words.get(1..3) {
                    Some(["every", d]) => Some(duration(d)?),
                    Some(["off", ..]) | None => None,
                    _ => return Err("layers every DUR | layers off".into()),
                };
                self.sim()?.printer.layer_every_ms = every;
            }
            "layer_count" => {
                let n = num(words.get(1), "layer count")?;
                self.sim()?.printer.layer_count = Some(n);
            }
            "report" => {
                let sim = self.sim()?;
                for (k, v) in &a {
                    let v = on_off(v)?;
                    match *k {
                        "layer" => sim.printer.report_layer = v,
                        "z" => sim.printer.report_z = v,
                        "progress" => sim.printer.report_progress = v,
                        _ => return Err(format!("report: unknown {k}")),
                    }
                }
            }
            "stall" => {
                let v = on_off(words.get(1).ok_or("stall on|off")?)?;
                let sim = self.sim()?;
                sim.printer.stalled = v;
                sim.note(format!("printer {}", if v { "stalls" } else { "moves again" }));
            }
            "feature" => {
                let f = words.get(1).ok_or("feature NAME|none")?;
                self.sim()?.printer.feature = (*f != "none").then(|| f.to_string());
            }
            "camera" => {
                let sim = self.sim()?;
                if let Some(b) = a.get("brightness") {
                    sim.camera.brightness = b.parse().map_err(|_| "bad brightness")?;
                }
                if let Some(f) = a.get("frozen") {
                    sim.camera.frozen = on_off(f)?;
                }
                sim.note(format!("camera {}", words[1..].join(" ")));
            }
            "gcode" => {
                let setup = if words.get(1) == Some(&"off") {
                    None
                } else {
                    Some(GcodeSetup {
                        footprint_mm2: num(a.get("footprint"), "footprint")?,
                        extruded_per_layer_mm: num(a.get("extruded_per_layer"), "extruded_per_layer")?,
                        airborne: num(a.get("airborne"), "airborne")?,
                    })
                };
                self.sim()?.gcode = setup;
            }
            "feedback" => {
                let fb = match words.get(1).copied() {
                    Some("resumed") => Feedback::Resumed,
                    Some("not_a_failure") => Feedback::NotAFailure,
                    Some("mute_for_print") => Feedback::MuteForPrint,
                    Some("new_print") => Feedback::NewPrint,
                    other => return Err(format!("unknown feedback {other:?}")),
                };
                self.sim()?.feedback(fb);
            }
            "mark" | "onset" => {
                let name = if words[0] == "onset" { "onset" } else { words.get(1).copied().unwrap_or("mark") };
                let sim = self.sim()?;
                let mark = (sim.events.len(), sim.t_ms, name.to_string());
                sim.note(name.to_string());
                self.mark = mark;
            }
            "frames" | "ramp" | "noise" | "failure" => self.generate(&words, &a)?,
            "frame" => {
                let (p, _) = prob(a.get("p").ok_or("frame needs p=")?)?;
                let label = a.get("label").copied().unwrap_or("spaghetti").to_string();
                let after = a.get("after").map(|d| duration(d)).transpose()?.unwrap_or(2000);
                let sim = self.sim()?;
                sim.advance(after);
                sim.frame(p, &label);
            }
            "gap" => {
                let total = duration(words.get(1).ok_or("gap DUR")?)?;
                let tick = a.get("tick").map(|d| duration(d)).transpose()?;
                let sim = self.sim()?;
                let mut left = total;
                while left > 0 {
                    let dt = tick.unwrap_or(left).min(left);
                    sim.advance(dt);
                    left -= dt;
                    if tick.is_some() {
                        sim.tick();
                    }
                }
            }
            "tick" => self.sim()?.tick(),
            "expect" => self.expect(&words[1..])?,
            other => return Err(format!("unknown directive {other:?}")),
        }
        Ok(())
    }

    fn generate(&mut self, words: &[&str], a: &Args) -> Result<(), String> {
        let n: u32 = num(words.get(1), "frame count")?;
        if words.get(2) != Some(&"every") {
            return Err(format!("{} N every INTERVAL …", words[0]));
        }
        let (lo, hi) = interval(words.get(3).ok_or("missing interval")?)?;
        let fixed_label = a.get("label").map(|l| l.to_string());
        let kind = words[0];
        let (mean, spread) = match a.get("p") {
            Some(p) => prob(p)?,
            None => (0.0, 0.0),
        };
        let from: f32 = a.get("from").map_or(Ok(0.0), |v| v.parse()).map_err(|_| "bad from")?;
        let to: f32 = a.get("to").map_or(Ok(0.0), |v| v.parse()).map_err(|_| "bad to")?;
        let ramp_spread: f32 = a.get("spread").map_or(Ok(0.0), |v| v.parse()).map_err(|_| "bad spread")?;
        if kind == "frames" && a.get("p").is_none() {
            return Err("frames needs p=".into());
        }
        let mut rng = self.rng.clone();
        let mut noise = self.noise.clone();
        self.sim()?;
        let sim = self.sim.as_mut().ok_or("no simulation")?;
        for i in 0..n {
            let dt = if lo == hi { lo } else { lo + (rng.next_u64() % (hi - lo + 1) as u64) as i64 };
            sim.advance(dt);
            let (p, label) = match kind {
                "frames" => (rng.around(mean, spread), "spaghetti"),
                "ramp" => {
                    let x = if n > 1 { i as f32 / (n - 1) as f32 } else { 1.0 };
                    (rng.around(from + (to - from) * x, ramp_spread), "spaghetti")
                }
                "noise" => noise.next(&mut rng),
                _ => (clear_failure(&mut rng), "spaghetti"),
            };
            sim.frame(p, fixed_label.as_deref().unwrap_or(label));
        }
        self.rng = rng;
        self.noise = noise;
        Ok(())
    }

    fn expect(&mut self, words: &[&str]) -> Result<(), String> {
        let (start, t0, mark) = self.mark.clone();
        let sim = self.sim()?;
        let steps: Vec<_> =
            sim.events[start..].iter().filter_map(|e| if let Event::Step(s) = e { Some(s) } else { None }).collect();
        let findings: Vec<&HealthFinding> = sim.events[start..]
            .iter()
            .filter_map(|e| if let Event::Finding(_, f) = e { Some(f) } else { None })
            .collect();
        let first = |level: Level| steps.iter().find(|s| s.level >= level).map(|s| s.t_ms - t0);
        let (ok, detail) = match words {
            ["pause", "within", d] => match first(Level::Failure) {
                Some(dt) => (dt <= duration(d)?, format!("pause {} after {mark}", secs(dt))),
                None => (false, format!("no pause since {mark}")),
            },
            ["warning", "within", d] => match first(Level::Warning) {
                Some(dt) => (dt <= duration(d)?, format!("warning {} after {mark}", secs(dt))),
                None => (false, format!("no warning since {mark}")),
            },
            ["warning", "before", "pause"] => match (first(Level::Warning), first(Level::Failure)) {
                (Some(w), Some(p)) => {
                    let warned = steps.iter().any(|s| s.level == Level::Warning);
                    (warned && w < p, format!("warning {}, pause {} after {mark}", secs(w), secs(p)))
                }
                (w, p) => (false, format!("warning {w:?}, pause {p:?}")),
            },
            ["no", "pause"] => {
                let n = steps.iter().filter(|s| s.changed && s.level == Level::Failure).count();
                (n == 0 && first(Level::Failure).is_none(), format!("{n} pauses since {mark}"))
            }
            ["no", "warning"] => {
                let n = steps.iter().filter(|s| s.changed && s.level != Level::Ok).count();
                (n == 0 && first(Level::Warning).is_none(), format!("{n} warnings or pauses since {mark}"))
            }
            ["level", l] => {
                let last = steps.last().map(|s| s.level);
                let want = match *l {
                    "ok" => Level::Ok,
                    "warning" => Level::Warning,
                    "failure" => Level::Failure,
                    _ => return Err(format!("unknown level {l}")),
                };
                (last == Some(want), format!("level {last:?}"))
            }
            ["gate", g] => {
                let last = steps.last().map(|s| s.gate.name());
                (last == Some(*g), format!("gate {}", last.unwrap_or("none")))
            }
            ["finding", name] => {
                let found = findings.iter().any(|f| finding_name(f) == *name);
                (found, format!("{name} {}", if found { "found" } else { "missing" }))
            }
            ["no", "finding"] => (findings.is_empty(), format!("{} findings since {mark}", findings.len())),
            _ => return Err(format!("unknown expectation {:?}", words.join(" "))),
        };
        let text = format!("expect {}: {detail}{}", words.join(" "), if ok { "" } else { " — FAILED" });
        if !ok {
            self.failed.push(format!("{}: {text}", self.name));
        }
        self.sim()?.note(format!("=> {text}"));
        Ok(())
    }

    fn render(&self) -> String {
        let Some(sim) = &self.sim else { return String::new() };
        let mut out = String::new();
        let mut last_gate: Option<Gate> = None;
        for e in &sim.events {
            match e {
                Event::Step(s) => {
                    if !(s.changed || last_gate != Some(s.gate)) {
                        continue;
                    }
                    last_gate = Some(s.gate);
                    let lvl = |v: f32| if v.is_finite() { format!("{v:.2}") } else { "off".into() };
                    let layer = s.layer.map_or("L-".to_string(), |l| format!("L{l}"));
                    let level = format!("{:?}", s.level).to_lowercase();
                    let kind = s.kind.map_or("-", |k| k.name());
                    out += &format!(
                        "{:>9} {layer:<5} {level:<8} {kind:<10} S={:.2} W={} P={} raw={:.2} {}{}\n",
                        secs(s.t_ms),
                        s.smoothed,
                        lvl(s.warning),
                        lvl(s.pause),
                        s.raw,
                        s.gate.name(),
                        if s.fast { " fast" } else { "" }
                    );
                }
                Event::Finding(t, f) => out += &format!("{:>9} finding {}\n", secs(*t), finding_text(f)),
                Event::Note(t, n) => out += &format!("{:>9} {n}\n", secs(*t)),
            }
        }
        let st = sim.decider.stats();
        out += &format!(
            "-- {} frames, {} judged, {} pauses, {} warnings; \
             ignored: {} dark, {} repeated, {} out of order, {} invalid; {} gap resets\n",
            st.frames,
            st.judged,
            sim.failures,
            sim.warning_times.len(),
            st.dark_frames,
            st.repeated_frames,
            st.out_of_order,
            st.invalid_scores,
            st.gap_resets
        );
        out
    }
}

fn finding_name(f: &HealthFinding) -> String {
    match f {
        HealthFinding::CameraFrozen { .. } => "camera_frozen".into(),
        HealthFinding::CameraDark { .. } => "camera_dark".into(),
        HealthFinding::CameraSilent { .. } => "camera_silent".into(),
        HealthFinding::PrinterStalled { .. } => "printer_stalled".into(),
        HealthFinding::ActivityAfterEnd { .. } => "activity_after_end".into(),
        HealthFinding::Muted { .. } => "muted".into(),
        HealthFinding::Cleared { what, .. } => format!("cleared:{what}"),
    }
}

fn finding_text(f: &HealthFinding) -> String {
    let rel = |t: layerwatch::domain::Timestamp| secs(t.millis() - super::sim::BASE_MS);
    match f {
        HealthFinding::CameraFrozen { since, layers_advanced } => {
            format!("camera_frozen since {} ({layers_advanced} layers advanced)", rel(*since))
        }
        HealthFinding::CameraDark { since, brightness } => {
            format!("camera_dark since {} (brightness {brightness:.0})", rel(*since))
        }
        HealthFinding::CameraSilent { since } => format!("camera_silent since {}", rel(*since)),
        HealthFinding::PrinterStalled { since, layer } => {
            format!("printer_stalled since {} (layer {layer:?})", rel(*since))
        }
        HealthFinding::ActivityAfterEnd { since } => format!("activity_after_end since {}", rel(*since)),
        HealthFinding::Muted { since, .. } => format!("muted since {}", rel(*since)),
        HealthFinding::Cleared { what, .. } => format!("cleared {what}"),
    }
}
