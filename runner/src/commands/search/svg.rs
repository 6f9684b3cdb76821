//! `search.svg`: two stacked panels over events per block, one point per
//! probe: the value of the bar that broke first just above the capacity
//! (with its limit as a dashed line), and the events lost. Points that
//! passed are green, failures red; the capacity is a vertical line.
//!
//! Hand-written SVG text like the run's `plot.svg`: deterministic and
//! viewable anywhere.

use std::fmt::Write;

use super::model::{Probe, Search};
use crate::bars::Measure;
use crate::report::{format_value, Status};

const WIDTH: f64 = 640.0;
const PANEL: f64 = 150.0;
const GAP: f64 = 50.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 30.0;

/// One panel: a title, a unit, a value per probe and an optional limit.
struct Panel {
    title: String,
    unit: Measure,
    points: Vec<(u32, Option<f64>, bool)>,
    limit: Option<f64>,
}

/// The plot for a search.
pub fn render(s: &Search) -> String {
    let breaking = s.breaking.as_ref().and_then(|b| b.bar.as_ref());
    let bar_panel = breaking.map(|bar| {
        fn reading<'a>(p: &'a Probe, bar: &str) -> Option<&'a super::model::ProbeBar> {
            p.bars.iter().find(|b| b.bar == bar)
        }
        Panel {
            title: format!("{} (failed first above the capacity)", bar.bar),
            unit: bar.unit,
            points: s
                .probes
                .iter()
                .map(|p| {
                    (
                        p.events_per_block,
                        reading(p, &bar.bar).and_then(|b| b.observed),
                        passed(p),
                    )
                })
                .collect(),
            limit: s
                .probes
                .iter()
                .find_map(|p| reading(p, &bar.bar))
                .map(|b| b.limit),
        }
    });
    let lost_panel = Panel {
        title: "events lost (no order within the deadline)".to_owned(),
        unit: Measure::Plain,
        points: s
            .probes
            .iter()
            .map(|p| (p.events_per_block, p.lost.map(|l| l as f64), passed(p)))
            .collect(),
        limit: None,
    };
    let panels: Vec<Panel> = bar_panel.into_iter().chain([lost_panel]).collect();
    let x_max = f64::from(
        s.probes
            .iter()
            .map(|p| p.events_per_block)
            .max()
            .unwrap_or(1)
            .max(1),
    );
    let height = TOP + panels.len() as f64 * (PANEL + GAP);
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"11\">\n"
    );
    let _ = writeln!(out, "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>");
    let _ = writeln!(
        out,
        "<text x=\"{LEFT}\" y=\"16\" font-size=\"13\">{}: events per block</text>",
        escape(&s.scenario.name)
    );
    for (i, panel) in panels.iter().enumerate() {
        let top = TOP + i as f64 * (PANEL + GAP) + 15.0;
        draw(&mut out, panel, top, x_max, s.capacity);
    }
    out.push_str("</svg>\n");
    out
}

fn passed(p: &Probe) -> bool {
    p.status == Status::Pass
}

fn draw(out: &mut String, panel: &Panel, top: f64, x_max: f64, capacity: Option<u32>) {
    let plot_width = WIDTH - LEFT - RIGHT;
    let y_max = panel
        .points
        .iter()
        .filter_map(|(_, v, _)| *v)
        .chain(panel.limit)
        .fold(0.0_f64, f64::max)
        .max(f64::MIN_POSITIVE)
        * 1.1;
    let x = |events: f64| LEFT + events / x_max * plot_width;
    let y = |value: f64| top + PANEL - value / y_max * PANEL;
    let _ = writeln!(
        out,
        "<text x=\"{LEFT}\" y=\"{:.1}\">{}</text>",
        top - 5.0,
        escape(&panel.title)
    );
    let _ = writeln!(
        out,
        "<rect x=\"{LEFT}\" y=\"{top:.1}\" width=\"{plot_width:.1}\" height=\"{PANEL}\" fill=\"none\" stroke=\"#999\"/>"
    );
    let _ = writeln!(
        out,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
        LEFT - 4.0,
        top + 10.0,
        format_value(y_max / 1.1, panel.unit)
    );
    let _ = writeln!(
        out,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
        WIDTH - RIGHT,
        top + PANEL + 14.0,
        x_max
    );
    if let Some(limit) = panel.limit {
        let _ = writeln!(
            out,
            "<line class=\"limit\" x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#e15759\" stroke-dasharray=\"4 3\"/>",
            WIDTH - RIGHT,
            y(limit),
            y(limit)
        );
    }
    if let Some(c) = capacity {
        let cx = x(f64::from(c));
        let _ = writeln!(
            out,
            "<line class=\"capacity\" x1=\"{cx:.1}\" x2=\"{cx:.1}\" y1=\"{top:.1}\" y2=\"{:.1}\" stroke=\"#59a14f\"/>",
            top + PANEL
        );
    }
    for (events, value, pass) in &panel.points {
        let Some(value) = value else { continue };
        let colour = if *pass { "#59a14f" } else { "#e15759" };
        let _ = writeln!(
            out,
            "<circle class=\"probe\" data-events=\"{events}\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"4\" fill=\"{colour}\"/>",
            x(f64::from(*events)),
            y(*value)
        );
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
