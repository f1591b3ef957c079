//! SVG line charts of a report's time series, written as plain SVG text (no dependency): one
//! file per measure, a panel per resource kind or allocator, axes with ticks and labels, a
//! legend, and an `index.html` that shows them all.
//!
//! * `utilisation.svg`: per resource kind, the fraction held by running tasks, one line per
//!   allocator;
//! * `shares.svg`: per allocator, each role's dominant share, one line per role;
//! * `fairness.svg`: Jain's index over the roles' weighted dominant shares, per allocator;
//! * `agents-used.svg`: agents running at least one task, per allocator.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::Report;
use crate::report::num;

const PALETTE: [&str; 8] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
];
const WIDTH: f64 = 960.0;
const PANEL: f64 = 250.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 220.0;
const TOP: f64 = 50.0;
const GAP: f64 = 70.0;

struct Line<'a> {
    name: &'a str,
    xs: &'a [f64],
    ys: Vec<Option<f64>>,
}

struct Panel<'a> {
    title: String,
    y_label: &'a str,
    /// `None`: from the data.
    y_max: Option<f64>,
    percent: bool,
    lines: Vec<Line<'a>>,
}

/// One line per allocator's run, its values `ys` over the run's times.
fn per_run<'a>(
    runs: &'a [crate::report::RunReport],
    ys: impl Fn(&'a crate::report::RunReport) -> Vec<Option<f64>>,
) -> Vec<Line<'a>> {
    runs.iter()
        .map(|r| Line {
            name: &r.allocator,
            xs: &r.series.t_s,
            ys: ys(r),
        })
        .collect()
}

/// Writes the report's charts into `dir` (created if missing); returns the files written.
pub fn write_svgs(report: &Report, dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let runs = &report.runs;
    let workload = &report.workload.name;
    let mut charts: Vec<(&str, String)> = Vec::new();

    let kinds: Vec<&String> = report.workload.resources.keys().collect();
    let utilisation: Vec<Panel> = kinds
        .iter()
        .map(|kind| Panel {
            title: format!("{kind} held by running tasks"),
            y_label: "of the cluster",
            y_max: Some(1.0),
            percent: true,
            lines: per_run(runs, |r| {
                r.series
                    .utilisation
                    .get(*kind)
                    .map(|v| v.iter().map(|x| Some(*x)).collect())
                    .unwrap_or_default()
            }),
        })
        .collect();
    charts.push((
        "utilisation",
        chart(&format!("Utilisation: {workload}"), &utilisation),
    ));

    let shares: Vec<Panel> = runs
        .iter()
        .map(|r| Panel {
            title: format!("{}: dominant share per role", r.allocator),
            y_label: "dominant share",
            y_max: Some(1.0),
            percent: false,
            lines: r
                .roles
                .iter()
                .map(|role| Line {
                    name: &role.role,
                    xs: &r.series.t_s,
                    ys: r
                        .series
                        .shares
                        .get(&role.role)
                        .map(|v| v.iter().map(|x| Some(*x)).collect())
                        .unwrap_or_default(),
                })
                .collect(),
        })
        .collect();
    charts.push((
        "shares",
        chart(&format!("Dominant shares: {workload}"), &shares),
    ));

    let fairness = Panel {
        title: "Jain's index over the roles' weighted dominant shares (1: equal)".into(),
        y_label: "Jain's index",
        y_max: Some(1.0),
        percent: false,
        lines: per_run(runs, |r| r.series.jain.clone()),
    };
    charts.push((
        "fairness",
        chart(&format!("Fairness: {workload}"), &[fairness]),
    ));

    let agents = Panel {
        title: format!(
            "Agents running at least one task (of {})",
            report.workload.agents
        ),
        y_label: "agents",
        y_max: None,
        percent: false,
        lines: per_run(runs, |r| {
            r.series
                .agents_used
                .iter()
                .map(|x| Some(f64::from(*x)))
                .collect()
        }),
    };
    charts.push((
        "agents-used",
        chart(&format!("Packing: {workload}"), &[agents]),
    ));

    let mut written = Vec::new();
    let mut index = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>meseta simulate: {}</title></head>\n<body style=\"font-family: sans-serif\">\n<h1>meseta simulate: {}</h1>\n<pre>{}</pre>\n",
        escape(workload),
        escape(workload),
        escape(&report.table())
    );
    for (name, svg) in charts {
        let file = dir.join(format!("{name}.svg"));
        std::fs::write(&file, svg)?;
        let _ = writeln!(index, "<p><img src=\"{name}.svg\" alt=\"{name}\"></p>");
        written.push(file);
    }
    index.push_str("</body></html>\n");
    let file = dir.join("index.html");
    std::fs::write(&file, index)?;
    written.push(file);
    Ok(written)
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A step of 1, 2 or 5 times a power of ten giving about five intervals up to `max`.
fn tick_step(max: f64) -> f64 {
    if !(max.is_finite() && max > 0.0) {
        return 1.0;
    }
    let raw = max / 5.0;
    let p = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * p)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * p)
}

/// Time axis unit for a span of `max` seconds: (divisor, label).
fn time_unit(max: f64) -> (f64, &'static str) {
    if max >= 3.0 * 3600.0 {
        (3600.0, "virtual time (h)")
    } else if max >= 600.0 {
        (60.0, "virtual time (min)")
    } else {
        (1.0, "virtual time (s)")
    }
}

fn chart(title: &str, panels: &[Panel]) -> String {
    let height = TOP + panels.len() as f64 * (PANEL + GAP) + 10.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" viewBox=\"0 0 {WIDTH} {height}\" font-family=\"sans-serif\" font-size=\"12\">"
    );
    let _ = writeln!(
        s,
        "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n<text x=\"{}\" y=\"24\" font-size=\"16\" font-weight=\"bold\">{}</text>",
        LEFT,
        escape(title)
    );
    // One time axis for every panel, so that they compare at a glance.
    let x_max_s = panels
        .iter()
        .flat_map(|p| p.lines.iter().filter_map(|l| l.xs.last().copied()))
        .fold(0.0, f64::max)
        .max(1e-9);
    for (i, p) in panels.iter().enumerate() {
        panel(&mut s, TOP + i as f64 * (PANEL + GAP), p, x_max_s);
    }
    s.push_str("</svg>\n");
    s
}

fn panel(s: &mut String, top: f64, p: &Panel, x_max_s: f64) {
    let w = WIDTH - LEFT - RIGHT;
    let h = PANEL - 30.0;
    let y0 = top + 25.0;
    let (unit, x_label) = time_unit(x_max_s);
    let x_max = x_max_s / unit;
    let data_max = p
        .lines
        .iter()
        .flat_map(|l| l.ys.iter().flatten().copied())
        .fold(0.0, f64::max);
    let y_max = p.y_max.unwrap_or_else(|| {
        let step = tick_step(data_max.max(1.0));
        (data_max / step).ceil().max(1.0) * step
    });
    let sx = |x: f64| LEFT + x / unit / x_max * w;
    let sy = |y: f64| y0 + h - (y / y_max).clamp(0.0, 1.05) * h;

    let _ = writeln!(
        s,
        "<text x=\"{LEFT}\" y=\"{}\" font-size=\"13\" font-weight=\"bold\">{}</text>",
        y0 - 8.0,
        escape(&p.title)
    );
    // Grid and ticks.
    let ystep = tick_step(y_max);
    let mut y = 0.0;
    while y <= y_max * 1.0001 {
        let py = sy(y);
        let label = if p.percent {
            format!("{}%", num(y * 100.0))
        } else {
            num(y)
        };
        let _ = writeln!(
            s,
            "<line x1=\"{LEFT}\" y1=\"{py:.1}\" x2=\"{:.1}\" y2=\"{py:.1}\" stroke=\"#e5e5e5\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{label}</text>",
            LEFT + w,
            LEFT - 6.0,
            py + 4.0
        );
        y += ystep;
    }
    let xstep = tick_step(x_max);
    let mut x = 0.0;
    while x <= x_max * 1.0001 {
        let px = LEFT + x / x_max * w;
        let _ = writeln!(
            s,
            "<line x1=\"{px:.1}\" y1=\"{y0}\" x2=\"{px:.1}\" y2=\"{:.1}\" stroke=\"#f0f0f0\"/><text x=\"{px:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            y0 + h,
            y0 + h + 16.0,
            num(x)
        );
        x += xstep;
    }
    // Axes and their labels.
    let _ = writeln!(
        s,
        "<line x1=\"{LEFT}\" y1=\"{y0}\" x2=\"{LEFT}\" y2=\"{:.1}\" stroke=\"black\"/><line x1=\"{LEFT}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"black\"/>",
        y0 + h,
        y0 + h,
        LEFT + w,
        y0 + h
    );
    let _ = writeln!(
        s,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{x_label}</text>",
        LEFT + w / 2.0,
        y0 + h + 34.0
    );
    let _ = writeln!(
        s,
        "<text transform=\"translate({:.1},{:.1}) rotate(-90)\" text-anchor=\"middle\">{}</text>",
        LEFT - 48.0,
        y0 + h / 2.0,
        escape(p.y_label)
    );
    // One polyline per series, broken where a value is undefined; legend on the right.
    for (i, line) in p.lines.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let mut segment = String::new();
        let mut flush = |segment: &mut String| {
            if !segment.is_empty() {
                let _ = writeln!(
                    s,
                    "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" stroke-linejoin=\"round\" points=\"{}\"/>",
                    segment.trim_end()
                );
                segment.clear();
            }
        };
        for (x, y) in line.xs.iter().zip(&line.ys) {
            match y {
                Some(y) => {
                    let _ = write!(segment, "{:.1},{:.1} ", sx(*x), sy(*y));
                }
                None => flush(&mut segment),
            }
        }
        flush(&mut segment);
        let ly = y0 + 10.0 + i as f64 * 20.0;
        let lx = LEFT + w + 20.0;
        let _ = writeln!(
            s,
            "<line x1=\"{lx}\" y1=\"{ly}\" x2=\"{}\" y2=\"{ly}\" stroke=\"{color}\" stroke-width=\"3\"/><text x=\"{}\" y=\"{}\">{}</text>",
            lx + 24.0,
            lx + 30.0,
            ly + 4.0,
            escape(line.name)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round() {
        assert_eq!(tick_step(1.0), 0.2);
        assert_eq!(tick_step(300.0), 100.0);
        assert_eq!(tick_step(4.0), 1.0);
        assert_eq!(time_unit(7200.0).1, "virtual time (min)");
    }
}
