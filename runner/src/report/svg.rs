//! `plot.svg`: three stacked panels over the blocks of the run: events
//! delivered on chain, orders the mock received, and event→order latency p99.
//!
//! Hand-written SVG text: three bar/line charts do not justify a plotting
//! dependency, and plain text keeps the file deterministic (golden-testable)
//! and viewable in any browser or PR.

use std::fmt::Write;

use super::{BlockPhase, BlockRow, Outcome};

const WIDTH: f64 = 800.0;
const PANEL: f64 = 140.0;
const GAP: f64 = 40.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 30.0;

/// One panel: a title, a unit and one value per block (`None`: no data).
struct Panel<'a> {
    title: &'a str,
    unit: &'a str,
    values: Vec<Option<f64>>,
    bars: bool,
    colour: &'a str,
}

/// The plot for an outcome.
pub fn render(outcome: &Outcome) -> String {
    let blocks = &outcome.blocks;
    let panels = [
        Panel {
            title: "events delivered on chain",
            unit: "",
            values: blocks
                .iter()
                .map(|b| Some((b.delivered.twap + b.delivered.ethflow) as f64))
                .collect(),
            bars: true,
            colour: "#4e79a7",
        },
        Panel {
            title: "orders received by the mock",
            unit: "",
            values: blocks
                .iter()
                .map(|b| Some(b.metrics.orders_received as f64))
                .collect(),
            bars: true,
            colour: "#59a14f",
        },
        Panel {
            title: "event→order latency p99",
            unit: "s",
            values: blocks
                .iter()
                .map(|b| b.metrics.event_to_order_p99_seconds)
                .collect(),
            bars: false,
            colour: "#e15759",
        },
    ];
    let height = TOP + panels.len() as f64 * (PANEL + GAP) + 10.0;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" \
         viewBox=\"0 0 {WIDTH} {height}\" font-family=\"sans-serif\" font-size=\"11\">"
    );
    let _ = writeln!(
        svg,
        "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n<text x=\"{LEFT}\" y=\"18\" font-size=\"14\">{} — per block</text>",
        escape(&outcome.scenario.name)
    );
    for (i, panel) in panels.iter().enumerate() {
        let top = TOP + i as f64 * (PANEL + GAP) + 15.0;
        draw_panel(&mut svg, panel, blocks, top);
    }
    svg.push_str("</svg>\n");
    svg
}

fn draw_panel(svg: &mut String, panel: &Panel, blocks: &[BlockRow], top: f64) {
    let plot_width = WIDTH - LEFT - RIGHT;
    let bottom = top + PANEL;
    let max = panel
        .values
        .iter()
        .flatten()
        .copied()
        .fold(0.0_f64, f64::max);
    let scale_max = if max > 0.0 { max } else { 1.0 };
    let _ = writeln!(
        svg,
        "<text x=\"{LEFT}\" y=\"{:.1}\" font-weight=\"bold\">{}</text>",
        top - 4.0,
        escape(panel.title)
    );
    // Axes and the top/bottom labels.
    let _ = writeln!(
        svg,
        "<line x1=\"{LEFT}\" y1=\"{bottom:.1}\" x2=\"{:.1}\" y2=\"{bottom:.1}\" stroke=\"#888\"/>\n\
         <line x1=\"{LEFT}\" y1=\"{top:.1}\" x2=\"{LEFT}\" y2=\"{bottom:.1}\" stroke=\"#888\"/>\n\
         <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\n\
         <text x=\"{:.1}\" y=\"{bottom:.1}\" text-anchor=\"end\">0</text>",
        LEFT + plot_width,
        LEFT - 4.0,
        top + 8.0,
        escape(&label(max, panel.unit)),
        LEFT - 4.0,
    );
    let n = panel.values.len().max(1) as f64;
    let step = plot_width / n;
    // Shade the load phase so warm-up and drain stand apart.
    if let (Some(first), Some(last)) = (
        blocks.iter().position(|b| b.phase == BlockPhase::Load),
        blocks.iter().rposition(|b| b.phase == BlockPhase::Load),
    ) {
        let _ = writeln!(
            svg,
            "<rect x=\"{:.1}\" y=\"{top:.1}\" width=\"{:.1}\" height=\"{PANEL}\" fill=\"#f2f2f2\"/>",
            LEFT + first as f64 * step,
            (last + 1 - first) as f64 * step
        );
    }
    let y = |v: f64| bottom - v / scale_max * PANEL;
    if panel.bars {
        for (i, v) in panel.values.iter().enumerate() {
            let Some(v) = v.filter(|v| *v > 0.0) else {
                continue;
            };
            let _ = writeln!(
                svg,
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{}\"/>",
                LEFT + i as f64 * step + step * 0.1,
                y(v),
                step * 0.8,
                bottom - y(v),
                panel.colour
            );
        }
    } else {
        let points: Vec<String> = panel
            .values
            .iter()
            .enumerate()
            .filter_map(|(i, v)| {
                v.map(|v| format!("{:.1},{:.1}", LEFT + (i as f64 + 0.5) * step, y(v)))
            })
            .collect();
        if !points.is_empty() {
            let _ = writeln!(
                svg,
                "<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"2\" points=\"{}\"/>",
                panel.colour,
                points.join(" ")
            );
        }
    }
    // First and last block numbers under the axis.
    if let (Some(first), Some(last)) = (blocks.first(), blocks.last()) {
        let _ = writeln!(
            svg,
            "<text x=\"{LEFT}\" y=\"{:.1}\">block {}</text>\n<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">block {}</text>",
            bottom + 13.0,
            first.number,
            LEFT + plot_width,
            bottom + 13.0,
            last.number
        );
    }
}

fn label(x: f64, unit: &str) -> String {
    super::markdown::value(x, unit)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
