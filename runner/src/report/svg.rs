//! `plot.svg`: stacked panels over the blocks of the run: events delivered on
//! chain, orders the mock received, events lost, event→order latency p99
//! with every seconds-valued bar's limit drawn as a dashed line, and, with
//! `engine.progress`, the engine's lag behind the chain head. A red marker
//! crosses every panel at the block where the first bar failed, so the plot
//! tells the verdict, not only the load. Each fault of the scenario's timeline
//! is a purple band over the blocks it held, fainter over the blocks before it
//! that it is charged with.
//!
//! Hand-written SVG text: three bar/line charts do not justify a plotting
//! dependency, and plain text keeps the file deterministic (golden-testable)
//! and viewable in any browser or PR.

use std::fmt::Write;

use super::{BlockPhase, BlockRow, Outcome};
use crate::bars::Measure;
use cowload_spec::outcome::FaultRecord;

const WIDTH: f64 = 800.0;
const PANEL: f64 = 140.0;
const GAP: f64 = 40.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 30.0;

/// One panel: a title, a unit and one value per block (`None`: no data),
/// plus horizontal limit lines (value, label).
struct Panel<'a> {
    title: &'a str,
    unit: Measure,
    values: Vec<Option<f64>>,
    bars: bool,
    colour: &'a str,
    limits: Vec<(f64, String)>,
}

/// The plot for an outcome.
pub fn render(outcome: &Outcome) -> String {
    let blocks = &outcome.blocks;
    let mut panels = vec![
        Panel {
            title: "events delivered on chain",
            unit: Measure::Plain,
            values: blocks
                .iter()
                .map(|b| Some(b.delivered.total() as f64))
                .collect(),
            bars: true,
            colour: "#4e79a7",
            limits: Vec::new(),
        },
        Panel {
            title: "orders received by the mock",
            unit: Measure::Plain,
            values: blocks
                .iter()
                .map(|b| Some(b.metrics.orders_received as f64))
                .collect(),
            bars: true,
            colour: "#59a14f",
            limits: Vec::new(),
        },
        Panel {
            title: "events lost",
            unit: Measure::Plain,
            values: blocks
                .iter()
                .map(|b| Some(b.metrics.events_lost as f64))
                .collect(),
            bars: true,
            colour: "#f28e2b",
            limits: Vec::new(),
        },
        Panel {
            title: "event→order latency p99 (exact samples); dashed: bar limits in seconds",
            unit: Measure::Seconds,
            values: blocks
                .iter()
                .map(|b| b.metrics.event_to_order_p99_seconds)
                .collect(),
            bars: false,
            colour: "#e15759",
            limits: seconds_limits(outcome),
        },
    ];
    if blocks.iter().any(|b| b.metrics.engine_rss_bytes.is_some()) {
        panels.push(Panel {
            title: "engine resident memory (its process group, from /proc)",
            unit: Measure::Bytes,
            values: blocks.iter().map(|b| b.metrics.engine_rss_bytes).collect(),
            bars: false,
            colour: "#b07aa1",
            limits: Vec::new(),
        });
    }
    if blocks.iter().any(|b| b.engine_lag_blocks.is_some()) {
        panels.push(Panel {
            title: "engine lag behind the chain head, blocks (engine.progress)",
            unit: Measure::Plain,
            values: blocks
                .iter()
                .map(|b| b.engine_lag_blocks.map(|lag| lag as f64))
                .collect(),
            bars: false,
            colour: "#76b7b2",
            limits: Vec::new(),
        });
    }
    let first_failure = outcome
        .bottleneck
        .first_failed_bar
        .as_ref()
        .and_then(|f| Some((f.block?, f.bar.as_str())));
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
    for fault in &outcome.faults {
        draw_fault_span(&mut svg, blocks, fault, height);
    }
    if let Some((block, bar)) = first_failure {
        draw_failure_marker(&mut svg, blocks, block, bar, height);
    }
    svg.push_str("</svg>\n");
    svg
}

/// The limits of the bars measured in seconds, as lines for the latency panel.
fn seconds_limits(outcome: &Outcome) -> Vec<(f64, String)> {
    outcome
        .bars
        .iter()
        .filter(|bar| bar.unit == Measure::Seconds && bar.limit.is_finite() && bar.limit > 0.0)
        .map(|bar| (bar.limit, bar.bar.clone()))
        .collect()
}

/// A translucent band through every panel over the blocks a fault held,
/// labelled with the fault, so a loss or a latency bump lines up with its cause.
fn draw_fault_span(svg: &mut String, blocks: &[BlockRow], fault: &FaultRecord, height: f64) {
    let Some((first, last)) = fault.blocks else {
        return;
    };
    let (Some(from), Some(to)) = (
        blocks.iter().position(|b| b.number == first),
        blocks.iter().position(|b| b.number == last),
    ) else {
        return;
    };
    let step = (WIDTH - LEFT - RIGHT) / blocks.len().max(1) as f64;
    let x = LEFT + from as f64 * step;
    // The blocks before it that it is charged with (not yet read when it began): fainter.
    let charged = fault
        .charged_from
        .and_then(|block| blocks.iter().position(|b| b.number == block))
        .filter(|&charged| charged < from);
    if let Some(charged) = charged {
        let _ = writeln!(
            svg,
            "<rect x=\"{:.1}\" y=\"{TOP:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"#9467bd\" fill-opacity=\"0.06\"/>",
            LEFT + charged as f64 * step,
            (from - charged) as f64 * step,
            height - 10.0 - TOP,
        );
    }
    let _ = writeln!(
        svg,
        "<rect x=\"{x:.1}\" y=\"{TOP:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"#9467bd\" fill-opacity=\"0.15\"/>\n\
         <text x=\"{:.1}\" y=\"{:.1}\" fill=\"#9467bd\">fault {}: {}</text>",
        (to + 1 - from) as f64 * step,
        height - 10.0 - TOP,
        x + 2.0,
        TOP + 16.0,
        fault.index,
        fault.kind.name()
    );
}

/// A red vertical line through every panel at `block`, labelled with the bar.
fn draw_failure_marker(svg: &mut String, blocks: &[BlockRow], block: u64, bar: &str, height: f64) {
    let Some(index) = blocks.iter().position(|b| b.number == block) else {
        return;
    };
    let step = (WIDTH - LEFT - RIGHT) / blocks.len().max(1) as f64;
    let x = LEFT + (index as f64 + 0.5) * step;
    let _ = writeln!(
        svg,
        "<line x1=\"{x:.1}\" y1=\"{TOP:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"#d62728\" stroke-dasharray=\"4 3\"/>\n\
         <text x=\"{:.1}\" y=\"{:.1}\" fill=\"#d62728\" text-anchor=\"end\">first failure, block {block}: {}</text>",
        height - 10.0,
        WIDTH - RIGHT,
        TOP + 4.0,
        escape(bar)
    );
}

fn draw_panel(svg: &mut String, panel: &Panel, blocks: &[BlockRow], top: f64) {
    let plot_width = WIDTH - LEFT - RIGHT;
    let bottom = top + PANEL;
    let max = panel
        .values
        .iter()
        .flatten()
        .copied()
        .chain(panel.limits.iter().map(|(limit, _)| *limit))
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
    for (limit, text) in &panel.limits {
        let _ = writeln!(
            svg,
            "<line x1=\"{LEFT}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"#d62728\" stroke-dasharray=\"6 4\"/>\n\
             <text x=\"{:.1}\" y=\"{:.1}\" fill=\"#d62728\" text-anchor=\"end\">{}</text>",
            y(*limit),
            LEFT + plot_width,
            y(*limit),
            LEFT + plot_width,
            y(*limit) - 3.0,
            escape(text)
        );
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

fn label(x: f64, unit: Measure) -> String {
    super::markdown::value(x, unit)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
