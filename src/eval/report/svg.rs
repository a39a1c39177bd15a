//! A small SVG plotting kit for the HTML report: x/y charts with linear axes,
//! ticks and grid, lines, step lines, dots, markers, horizontal and vertical
//! rules, shaded spans, a legend; and a heat-map for confusion matrices.
//! Output is plain SVG text with inline attributes (no CSS classes needed, no
//! scripts), so it renders the same in any browser and in image viewers.

use std::fmt::Write as _;

/// Escapes text for XML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// A linear axis.
#[derive(Debug, Clone)]
pub struct Axis {
    pub min: f64,
    pub max: f64,
    pub label: String,
}

impl Axis {
    pub fn new(min: f64, max: f64, label: &str) -> Axis {
        let (min, max) = if max > min && min.is_finite() && max.is_finite() {
            (min, max)
        } else {
            (min.min(0.0), min.max(0.0) + 1.0)
        };
        Axis { min, max, label: label.to_string() }
    }

    /// About `n` round tick values inside the axis.
    pub fn ticks(&self, n: usize) -> Vec<f64> {
        let span = self.max - self.min;
        let raw = span / n.max(1) as f64;
        let mag = 10f64.powf(raw.log10().floor());
        let step = [1.0, 2.0, 2.5, 5.0, 10.0].iter().map(|m| m * mag).find(|s| *s >= raw).unwrap_or(raw);
        let k0 = (self.min / step).ceil() as i64;
        let mut out = vec![];
        for k in k0..k0 + 50 {
            let v = ((k as f64 * step) * 1e9).round() / 1e9;
            if v > self.max + step * 1e-9 {
                break;
            }
            out.push(if v == 0.0 { 0.0 } else { v });
        }
        out
    }
}

fn fmt_tick(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    if a >= 1000.0 || a.fract() == 0.0 {
        format!("{v:.0}")
    } else if a >= 1.0 {
        format!("{v:.1}")
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').to_string()
    }
}

/// An x/y chart being drawn.
#[derive(Debug, Clone)]
pub struct Chart {
    pub width: f64,
    pub height: f64,
    left: f64,
    right: f64,
    top: f64,
    bottom: f64,
    pub x: Axis,
    pub y: Axis,
    body: String,
    legend: Vec<(String, String)>,
    title: String,
}

impl Chart {
    pub fn new(width: f64, height: f64, title: &str, x: Axis, y: Axis) -> Chart {
        Chart {
            width,
            height,
            left: 56.0,
            right: 16.0,
            top: 40.0,
            bottom: 42.0,
            x,
            y,
            body: String::new(),
            legend: vec![],
            title: title.to_string(),
        }
    }

    fn px(&self, x: f64) -> f64 {
        let w = self.width - self.left - self.right;
        self.left + (x.clamp(self.x.min, self.x.max) - self.x.min) / (self.x.max - self.x.min) * w
    }

    fn py(&self, y: f64) -> f64 {
        let h = self.height - self.top - self.bottom;
        self.top + h - (y.clamp(self.y.min, self.y.max) - self.y.min) / (self.y.max - self.y.min) * h
    }

    /// Adds a legend entry.
    pub fn legend(&mut self, label: &str, color: &str) -> &mut Self {
        self.legend.push((label.to_string(), color.to_string()));
        self
    }

    /// A polyline through the points (NaN points break the line).
    pub fn line(&mut self, pts: &[(f64, f64)], color: &str, width: f64, dash: Option<&str>) -> &mut Self {
        let mut seg = String::new();
        let flush = |seg: &mut String, body: &mut String| {
            if !seg.is_empty() {
                let dash = dash.map(|d| format!(" stroke-dasharray=\"{d}\"")).unwrap_or_default();
                let _ = write!(
                    body,
                    "<polyline class=\"series\" fill=\"none\" stroke=\"{color}\" stroke-width=\"{width}\"{dash} \
                        points=\"{}\"/>",
                    seg.trim_end()
                );
                seg.clear();
            }
        };
        for &(x, y) in pts {
            if x.is_finite() && y.is_finite() {
                let _ = write!(seg, "{:.1},{:.1} ", self.px(x), self.py(y));
            } else {
                flush(&mut seg, &mut self.body);
            }
        }
        flush(&mut seg, &mut self.body);
        self
    }

    /// A step line: each value holds until the next point's x.
    pub fn step(&mut self, pts: &[(f64, f64)], color: &str, width: f64, dash: Option<&str>) -> &mut Self {
        let mut s: Vec<(f64, f64)> = Vec::with_capacity(pts.len() * 2);
        for (i, &(x, y)) in pts.iter().enumerate() {
            if i > 0 {
                let prev = pts[i - 1].1;
                if prev.is_finite() && y.is_finite() {
                    s.push((x, prev));
                } else {
                    s.push((f64::NAN, f64::NAN));
                }
            }
            s.push((x, y));
        }
        self.line(&s, color, width, dash)
    }

    /// Small circles.
    pub fn dots(&mut self, pts: &[(f64, f64)], color: &str, r: f64) -> &mut Self {
        for &(x, y) in pts {
            if x.is_finite() && y.is_finite() {
                let _ = write!(
                    self.body,
                    "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"{r}\" fill=\"{color}\"/>",
                    self.px(x),
                    self.py(y)
                );
            }
        }
        self
    }

    /// A labelled marker (triangle pointing down) at a point, with a tooltip.
    pub fn marker(&mut self, x: f64, y: f64, color: &str, label: &str) -> &mut Self {
        let (cx, cy) = (self.px(x), self.py(y));
        let _ = write!(
            self.body,
            "<path class=\"marker\" d=\"M{:.1},{:.1} l-6,-10 h12 z\" fill=\"{color}\" stroke=\"#222\" \
                stroke-width=\"0.6\"><title>{}</title></path>",
            cx,
            cy - 2.0,
            esc(label)
        );
        self
    }

    /// A vertical rule across the plot, labelled at the top.
    pub fn vline(&mut self, x: f64, color: &str, dash: Option<&str>, label: &str) -> &mut Self {
        let px = self.px(x);
        let dash = dash.map(|d| format!(" stroke-dasharray=\"{d}\"")).unwrap_or_default();
        let _ = write!(
            self.body,
            "<line x1=\"{px:.1}\" x2=\"{px:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"{color}\" \
                stroke-width=\"1.5\"{dash}/><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" fill=\"{color}\">{}</text>",
            self.top,
            self.height - self.bottom,
            px + 3.0,
            self.top + 10.0,
            esc(label)
        );
        self
    }

    /// A horizontal rule, labelled at the right end.
    pub fn hline(&mut self, y: f64, color: &str, dash: Option<&str>, label: &str) -> &mut Self {
        let py = self.py(y);
        let dash = dash.map(|d| format!(" stroke-dasharray=\"{d}\"")).unwrap_or_default();
        let _ = write!(
            self.body,
            "<line x1=\"{:.1}\" x2=\"{:.1}\" y1=\"{py:.1}\" y2=\"{py:.1}\" stroke=\"{color}\" \
                stroke-width=\"1\"{dash}/><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"end\" \
                    fill=\"{color}\">{}</text>",
            self.left,
            self.width - self.right,
            self.width - self.right - 2.0,
            py - 3.0,
            esc(label)
        );
        self
    }

    /// A shaded vertical span.
    pub fn span(&mut self, x0: f64, x1: f64, color: &str, opacity: f64) -> &mut Self {
        let (a, b) = (self.px(x0), self.px(x1));
        let _ = write!(
            self.body,
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{color}\" \
                fill-opacity=\"{opacity}\"/>",
            a.min(b),
            self.top,
            (b - a).abs(),
            self.height - self.top - self.bottom
        );
        self
    }

    /// Vertical bars from y = 0 (or the axis minimum) between `x0` and `x1`.
    pub fn bar(&mut self, x0: f64, x1: f64, y: f64, color: &str, opacity: f64) -> &mut Self {
        let base = self.py(self.y.min.max(0.0));
        let (a, b, top) = (self.px(x0), self.px(x1), self.py(y));
        let _ = write!(
            self.body,
            "<rect class=\"bar\" x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{color}\" \
                fill-opacity=\"{opacity}\"/>",
            a.min(b) + 0.5,
            top.min(base),
            ((b - a).abs() - 1.0).max(0.5),
            (base - top).abs()
        );
        self
    }

    /// Text at data coordinates.
    pub fn text(&mut self, x: f64, y: f64, s: &str, color: &str) -> &mut Self {
        let _ = write!(
            self.body,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" fill=\"{color}\">{}</text>",
            self.px(x) + 4.0,
            self.py(y) - 4.0,
            esc(s)
        );
        self
    }

    /// The finished `<svg>` element.
    pub fn render(&self) -> String {
        let mut s = String::with_capacity(self.body.len() + 4096);
        let (w, h) = (self.width, self.height);
        let _ = write!(
            s,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} \
                {h}\" font-family=\"sans-serif\" role=\"img\"><title>{}</title>",
            esc(&self.title)
        );
        let _ = write!(s, "<rect width=\"{w}\" height=\"{h}\" fill=\"#fff\"/>");
        let _ = write!(
            s,
            "<text x=\"{:.1}\" y=\"15\" font-size=\"13\" font-weight=\"bold\" fill=\"#222\">{}</text>",
            self.left,
            esc(&self.title)
        );
        let (x0, x1, y0, y1) = (self.left, w - self.right, self.top, h - self.bottom);
        for t in self.x.ticks(6) {
            let px = self.px(t);
            let _ = write!(
                s,
                "<line x1=\"{px:.1}\" x2=\"{px:.1}\" y1=\"{y0}\" y2=\"{y1}\" stroke=\"#eee\"/><text x=\"{px:.1}\" \
                    y=\"{:.1}\" font-size=\"10\" text-anchor=\"middle\" fill=\"#444\">{}</text>",
                y1 + 13.0,
                fmt_tick(t)
            );
        }
        for t in self.y.ticks(5) {
            let py = self.py(t);
            let _ = write!(
                s,
                "<line x1=\"{x0}\" x2=\"{x1}\" y1=\"{py:.1}\" y2=\"{py:.1}\" stroke=\"#eee\"/><text x=\"{:.1}\" \
                    y=\"{:.1}\" font-size=\"10\" text-anchor=\"end\" fill=\"#444\">{}</text>",
                x0 - 4.0,
                py + 3.5,
                fmt_tick(t)
            );
        }
        let _ = write!(
            s,
            "<rect x=\"{x0}\" y=\"{y0}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"none\" stroke=\"#888\"/>",
            x1 - x0,
            y1 - y0
        );
        let _ = write!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"middle\" fill=\"#222\">{}</text>",
            (x0 + x1) / 2.0,
            h - 8.0,
            esc(&self.x.label)
        );
        let _ = write!(
            s,
            "<text transform=\"translate(13,{:.1}) rotate(-90)\" font-size=\"11\" text-anchor=\"middle\" \
                fill=\"#222\">{}</text>",
            (y0 + y1) / 2.0,
            esc(&self.y.label)
        );
        s.push_str(&self.body);
        // Right-aligned rows above the plot; entries that do not fit wrap onto
        // further rows inside the plot's top edge, on a white backing.
        let (mut lx, mut row) = (x1 - 6.0, 0.0f64);
        for (label, color) in self.legend.iter().rev() {
            let width = 18.0 + label.chars().count() as f64 * 6.0;
            if lx - width < x0 && lx < x1 - 6.0 {
                lx = x1 - 6.0;
                row += 1.0;
            }
            lx -= width;
            let y = y0 - 17.0 + row * 15.0;
            if row > 0.0 {
                let _ = write!(
                    s,
                    "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{width:.1}\" height=\"14\" fill=\"#fff\" \
                        fill-opacity=\"0.85\"/>",
                    lx - 2.0,
                    y - 2.0
                );
            }
            let _ = write!(
                s,
                "<rect x=\"{lx:.1}\" y=\"{y:.1}\" width=\"10\" height=\"10\" fill=\"{color}\"/><text x=\"{:.1}\" \
                    y=\"{:.1}\" font-size=\"10\" fill=\"#222\">{}</text>",
                lx + 13.0,
                y + 9.0,
                esc(label)
            );
        }
        s.push_str("</svg>");
        s
    }
}

/// A heat-map of counts with row and column names (confusion matrices).
/// Each cell is shaded by its share of its row.
pub fn heatmap(
    title: &str,
    rows: &[String],
    cols: &[String],
    m: &[Vec<u64>],
    row_label: &str,
    col_label: &str,
) -> String {
    let cell = 58.0;
    let (left, top) = (130.0, 96.0);
    let w = left + cell * cols.len() as f64 + 56.0;
    let h = top + cell * rows.len() as f64 + 16.0;
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"heatmap\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} \
            {h}\" font-family=\"sans-serif\" role=\"img\"><title>{}</title><rect width=\"{w}\" height=\"{h}\" \
                fill=\"#fff\"/>",
        esc(title)
    );
    let _ = write!(s, "<text x=\"8\" y=\"18\" font-size=\"13\" font-weight=\"bold\">{}</text>", esc(title));
    let _ = write!(
        s,
        "<text x=\"{:.1}\" y=\"36\" font-size=\"11\" text-anchor=\"middle\">{}</text>",
        left + cell * cols.len() as f64 / 2.0,
        esc(col_label)
    );
    let _ = write!(s, "<text x=\"8\" y=\"{:.1}\" font-size=\"11\">{}</text>", top - 8.0, esc(row_label));
    for (j, c) in cols.iter().enumerate() {
        let x = left + cell * (j as f64 + 0.5);
        let _ = write!(
            s,
            "<text transform=\"translate({x:.1},{:.1}) rotate(-35)\" font-size=\"10\" text-anchor=\"start\">{}</text>",
            top - 6.0,
            esc(c)
        );
    }
    for (i, r) in rows.iter().enumerate() {
        let y = top + cell * i as f64;
        let total: u64 = m.get(i).map(|row| row.iter().sum()).unwrap_or(0);
        let _ = write!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"end\">{} ({total})</text>",
            left - 6.0,
            y + cell / 2.0 + 3.5,
            esc(r)
        );
        for (j, c) in cols.iter().enumerate() {
            let v = m.get(i).and_then(|row| row.get(j)).copied().unwrap_or(0);
            let share = if total > 0 { v as f64 / total as f64 } else { 0.0 };
            let diag = r == c;
            let (red, green, blue) = if diag { (40.0, 110.0, 200.0) } else { (210.0, 80.0, 40.0) };
            let mix = |c: f64| (255.0 - (255.0 - c) * share).round() as u8;
            let text = if share > 0.55 { "#fff" } else { "#111" };
            let x = left + cell * j as f64;
            let _ = write!(
                s,
                "<rect class=\"cell\" x=\"{x:.1}\" y=\"{y:.1}\" width=\"{cell}\" height=\"{cell}\" \
                    fill=\"rgb({},{},{})\" stroke=\"#ccc\"><title>{} → {}: {v} ({:.0} %)</title></rect><text \
                        x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\" text-anchor=\"middle\" fill=\"{text}\">{v}</text>",
                mix(red),
                mix(green),
                mix(blue),
                esc(r),
                esc(c),
                share * 100.0,
                x + cell / 2.0,
                y + cell / 2.0 + 4.0
            );
        }
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_inside() {
        assert_eq!(Axis::new(0.0, 1.0, "").ticks(5), [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]);
        let t = Axis::new(0.0, 37.0, "").ticks(6);
        assert_eq!(t, [0.0, 10.0, 20.0, 30.0]);
        assert_eq!(esc("a<b&\"c\""), "a&lt;b&amp;&quot;c&quot;");
    }

    #[test]
    fn chart_renders_well_formed_svg() {
        let mut c = Chart::new(300.0, 200.0, "t <1>", Axis::new(0.0, 1.0, "x"), Axis::new(0.0, 1.0, "y"));
        c.line(&[(0.0, 0.0), (0.5, f64::NAN), (1.0, 1.0), (0.9, 0.9)], "#00f", 1.5, None).hline(
            0.5,
            "#f00",
            Some("4 2"),
            "half",
        );
        c.legend("a", "#00f");
        let s = c.render();
        assert!(s.starts_with("<svg") && s.ends_with("</svg>"));
        assert_eq!(s.matches("<polyline").count(), 2, "NaN splits the line");
        assert!(s.contains("t &lt;1&gt;"));
        let h = heatmap("m", &["a".into()], &["a".into(), "b".into()], &[vec![3, 1]], "true", "predicted");
        assert_eq!(h.matches("class=\"cell\"").count(), 2);
    }
}
