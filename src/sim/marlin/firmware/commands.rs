//! The simulated firmware's G-code commands: motion, heaters, reports, SD card,
//! prompts and kill. SD-card lines run without an `ok`, like Marlin's.

use std::time::Duration;

use tokio::time::Instant;

use super::{Blocked, Firmware};
use crate::printer::marlin::protocol::framing::{command_word, param};

/// Commands the simulator accepts and ignores (an `ok` and nothing else).
const IGNORED: &[&str] = &[
    "M110", "M84", "M18", "M117", "M118", "M220", "M221", "M201", "M203", "M204", "M205", "G21", "M900", "M125", "T0",
    "M300", "M862.3", "M555",
];

impl Firmware {
    /// Runs one command: each group of commands has its step, which answers
    /// `false` for a command that is not its own.
    pub(super) fn execute(&mut self, cmd: &str, from_sd: bool, now: Instant) {
        if from_sd {
            self.sd_executed.push(cmd.to_string());
        } else {
            self.executed.push(cmd.to_string());
        }
        let word = command_word(cmd).to_ascii_uppercase();
        let run = Run { word: &word, cmd, from_sd, now };
        let handled = self.motion(&run)
            || self.heaters(&run)
            || self.report_commands(&run)
            || self.sd_card(&run)
            || self.user(&run)
            || self.settings(&run);
        if !handled {
            if !IGNORED.contains(&word.as_str()) {
                self.say(format!("echo:Unknown command: \"{cmd}\""));
            }
            self.done(&run);
        }
    }

    /// The `ok` of a host command (SD-card lines get none).
    fn done(&mut self, run: &Run<'_>) {
        if !run.from_sd {
            self.ok();
        }
    }

    /// Moves, dwell, homing, positioning modes and `G92`.
    fn motion(&mut self, run: &Run<'_>) -> bool {
        let (word, from_sd, now) = (run.word, run.from_sd, run.now);
        let p = |c| run.param(c);
        match word {
            "G0" | "G1" | "G2" | "G3" => {
                let target = [p('X'), p('Y'), p('Z'), p('E')];
                self.block(Blocked::Move { target, feed: p('F') }, from_sd, now)
            }
            "G4" => {
                let secs = p('P').map(|ms| ms / 1000.0).or(p('S')).unwrap_or(0.0);
                let wait = self.sim_duration(secs);
                self.block(Blocked::Dwell { wait, until: None }, from_sd, now)
            }
            "G28" => {
                self.axes.pos[..3].iter_mut().for_each(|v| *v = 0.0);
                let until = now + self.sim_duration(2.0);
                self.block(Blocked::Home { until }, from_sd, now)
            }
            "G90" | "G91" => {
                self.axes.absolute = word == "G90";
                self.axes.absolute_e = word == "G90";
                self.done(run)
            }
            "M82" | "M83" => {
                self.axes.absolute_e = word == "M82";
                self.done(run)
            }
            "G92" => {
                let any = ['X', 'Y', 'Z', 'E'].iter().any(|c| p(*c).is_some());
                for (i, c) in ['X', 'Y', 'Z', 'E'].iter().enumerate() {
                    if let Some(v) = p(*c) {
                        self.axes.pos[i] = v;
                    } else if !any {
                        self.axes.pos[i] = 0.0;
                    }
                }
                self.done(run)
            }
            "M400" => self.block(Blocked::Sync, from_sd, now),
            _ => return false,
        }
        true
    }

    /// Heater targets, and the waits of `M109`/`M190`.
    fn heaters(&mut self, run: &Run<'_>) -> bool {
        let word = run.word;
        if !matches!(word, "M104" | "M109" | "M140" | "M190") {
            return false;
        }
        let bed = word == "M140" || word == "M190";
        if let Some(t) = run.param('S').or(run.param('R')) {
            if bed {
                self.bed.target = t
            } else {
                self.hotend.target = t
            }
        }
        if word == "M109" || word == "M190" {
            self.block(Blocked::Heat { bed }, run.from_sd, run.now)
        } else {
            self.done(run)
        }
        true
    }

    /// Reports on request (`M105`, `M114`, `M115`; not from SD) and the
    /// auto-report intervals (`M155`, `M154`, `M27`).
    fn report_commands(&mut self, run: &Run<'_>) -> bool {
        let (word, cmd, now) = (run.word, run.cmd, run.now);
        match word {
            "M105" if !run.from_sd => {
                let t = self.temp_line();
                self.say(format!("ok {t}"))
            }
            "M114" if !run.from_sd => {
                let line = self.pos_line();
                self.say(line);
                self.ok()
            }
            "M115" if !run.from_sd => {
                self.identify();
                self.ok()
            }
            "M155" | "M154" | "M27" => {
                let every = run.param('S').filter(|s| *s > 0.0).map(Duration::from_secs_f32);
                let has_s = run.param('S').is_some();
                match word {
                    "M155" if has_s => (self.temp_every, self.next_temp) = (every, now),
                    "M154" if has_s => (self.pos_every, self.next_pos) = (every, now),
                    "M27" if has_s => (self.sd_every, self.next_sd) = (every, now),
                    "M27" if cmd.contains('C') => {
                        let name = self.sd.selected.clone().unwrap_or_else(|| "(no file)".into());
                        self.say(format!("Current file: {name}"))
                    }
                    "M27" => {
                        let s = self.sd_line();
                        self.say(s)
                    }
                    _ => {}
                }
                self.done(run)
            }
            _ => return false,
        }
        true
    }

    /// The SD card: list, mount, select, start, pause, abort.
    fn sd_card(&mut self, run: &Run<'_>) -> bool {
        match run.word {
            "M20" => {
                self.say("Begin file list");
                let list: Vec<String> = self
                    .sd
                    .files
                    .iter()
                    .map(|(n, d)| format!("{} {}", n.to_uppercase(), d.len()))
                    .collect();
                for l in list {
                    self.say(l);
                }
                self.say("End file list");
            }
            "M21" => self.say("echo:SD card ok"),
            "M23" => {
                let name = run.cmd[3..].trim().trim_start_matches('/').to_ascii_lowercase();
                match self.sd.files.get(&name).map(Vec::len) {
                    Some(size) => {
                        self.sd.selected = Some(name.clone());
                        self.sd.pos = 0;
                        self.sd.printing = false;
                        self.say(format!("echo:Now fresh file: {name}"));
                        self.say(format!("File opened: {name} Size: {size}"));
                        self.say("File selected");
                    }
                    None => self.say(format!("echo:open failed, File: {name}.")),
                }
            }
            "M24" => {
                if self.sd.selected.is_some() {
                    self.sd.printing = true;
                }
            }
            "M25" => self.sd.printing = false,
            "M524" => {
                if self.sd.printing || self.sd.selected.is_some() {
                    self.sd.printing = false;
                    self.sd.selected = None;
                    self.sd.pos = 0;
                    self.say("echo:Print aborted");
                }
            }
            _ => return false,
        }
        self.done(run);
        true
    }

    /// Waiting for the user (`M0`, `M1`, `M600` with host prompts), the
    /// answers that release it, and kill.
    fn user(&mut self, run: &Run<'_>) -> bool {
        match run.word {
            "M0" | "M1" | "M600" => {
                if self.cfg.caps.host_action_commands {
                    self.say("//action:paused");
                }
                if self.cfg.caps.prompt_support {
                    let title = if run.word == "M600" { "Filament Change" } else { "Paused" };
                    self.say(format!("//action:prompt_begin {title}"));
                    self.say("//action:prompt_button Continue");
                    self.say("//action:prompt_show");
                }
                self.say("echo:busy: paused for user");
                self.block(Blocked::User, run.from_sd, run.now)
            }
            "M108" | "M876" => {
                if !self.cfg.caps.emergency_parser {
                    self.release();
                }
                self.done(run)
            }
            "M112" => self.kill(),
            _ => return false,
        }
        true
    }

    /// Progress, the fan and `M486` (with `caps.cancel_objects`).
    fn settings(&mut self, run: &Run<'_>) -> bool {
        match run.word {
            "M73" => self.progress = run.param('P'),
            "M106" => self.fan = run.param('S').unwrap_or(255.0),
            "M107" => self.fan = 0.0,
            // CANCEL_OBJECTS: the objects are taken, not acted on (the simulator has no objects).
            "M486" if self.cfg.caps.cancel_objects => {}
            _ => return false,
        }
        self.done(run);
        true
    }

    pub(super) fn identify(&mut self) {
        let name = self.cfg.firmware_name.clone();
        self.say(format!(
            "FIRMWARE_NAME:{name} SOURCE_CODE_URL:github.com/MarlinFirmware/Marlin PROTOCOL_VERSION:1.0 \
             MACHINE_TYPE:layerwatch sim EXTRUDER_COUNT:1 UUID:00000000-0000-4000-8000-000000000000"
        ));
        let c = self.cfg.caps;
        let flag = |b: bool| if b { 1 } else { 0 };
        for (k, v) in [
            ("SERIAL_XON_XOFF", false),
            ("EEPROM", true),
            ("AUTOREPORT_TEMP", c.autoreport_temp),
            ("AUTOREPORT_SD_STATUS", c.autoreport_sd_status),
            ("AUTOREPORT_POS", c.autoreport_pos),
            ("EMERGENCY_PARSER", c.emergency_parser),
            ("HOST_ACTION_COMMANDS", c.host_action_commands),
            ("PROMPT_SUPPORT", c.prompt_support),
            ("SDCARD", true),
            ("PRINT_JOB", true),
        ] {
            self.say(format!("Cap:{k}:{}", flag(v)));
        }
        if let Some(z) = self.cfg.max_z {
            let vol = format!("{{min:{{x:0,y:0,z:0}},max:{{x:220,y:220,z:{z}}}}}");
            self.say(format!("area:{{full:{vol},work:{vol}}}"));
        }
    }
}

/// One command being run.
struct Run<'a> {
    /// The command word, upper case (`G1`, `M862.3`).
    word: &'a str,
    cmd: &'a str,
    from_sd: bool,
    now: Instant,
}

impl Run<'_> {
    fn param(&self, c: char) -> Option<f32> {
        param(self.cmd, c)
    }
}
