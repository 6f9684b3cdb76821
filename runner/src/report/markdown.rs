//! `report.md`: verdict first, then the bars, what saturated first, delivery and
//! orders per kind, where the time went, engine and mock figures, failed
//! transactions, the engine's last words and links to the raw files. Rendered
//! from the [`Outcome`] alone, so it can be regenerated from `outcome.json`.

use std::fmt::Write;

use super::{BarResult, LoadWindow, MetricKind, MetricSummary, Outcome, Source, Status};
use crate::bars::Bucket;
use cowload_spec::EventKind;

/// Most transaction failures listed; the rest are counted.
const MAX_FAILURES_LISTED: usize = 20;
/// Most metric rows listed per source; the rest are in outcome.json.
const MAX_METRICS_LISTED: usize = 40;

/// The whole report.
pub fn render(outcome: &Outcome) -> String {
    let mut md = String::new();
    headline(&mut md, outcome);
    hint(&mut md, outcome);
    bars(&mut md, outcome);
    faults(&mut md, outcome);
    delivery(&mut md, outcome);
    orders(&mut md, outcome);
    lost_and_missing(&mut md, outcome);
    requests(&mut md, outcome);
    time(&mut md, outcome);
    metrics(&mut md, outcome, Source::Engine, "Engine metrics");
    mock(&mut md, outcome);
    failures(&mut md, outcome);
    engine_log(&mut md, outcome);
    files(&mut md, outcome);
    md
}

/// The short form for `$GITHUB_STEP_SUMMARY`: verdict, hint and bars.
pub fn render_summary(outcome: &Outcome) -> String {
    let mut md = String::new();
    headline(&mut md, outcome);
    hint(&mut md, outcome);
    bars(&mut md, outcome);
    md
}

fn verdict_text(status: Status) -> &'static str {
    match status {
        Status::Pass => "✅ PASS: every bar held",
        Status::Fail => "❌ FAIL: a bar did not hold",
        Status::Interrupted => "⏹ INTERRUPTED: partial results",
        Status::Error => "💥 ERROR: the run could not finish",
    }
}

fn headline(md: &mut String, outcome: &Outcome) {
    let _ = writeln!(
        md,
        "# cowload: {}\n\n**{}** (exit {})\n",
        outcome.scenario.name,
        verdict_text(outcome.status),
        outcome.exit_code
    );
    if let Some(error) = &outcome.error {
        let _ = writeln!(md, "```\n{error}\n```\n");
    }
    if let Some(end) = &outcome.ended_early {
        let _ = writeln!(
            md,
            "The load ended early, after block {}: `{}` had failed in a way no later block could undo.\n",
            end.block, end.bar
        );
    }
    let chain = match &outcome.chain.fork_url {
        Some(url) => format!(
            "fork of {url}{}",
            outcome
                .chain
                .fork_block
                .map_or(String::new(), |b| format!(" at block {b}"))
        ),
        None => "local Anvil".to_owned(),
    };
    let engine = match &outcome.versions.engine_command {
        Some(command) => format!("`{}`", command.join(" ")),
        None => "none (harness only)".to_owned(),
    };
    let _ = writeln!(
        md,
        "Scenario `{}` (hash `{}`, seed {}), {} blocks on {chain} (chain {}, {}), \
         runner {}, engine {engine}.\n",
        outcome.scenario.file.display(),
        short(&outcome.scenario.hash),
        outcome.scenario.seed,
        outcome.blocks.len(),
        outcome.chain.chain_id,
        outcome.versions.anvil,
        outcome.versions.runner,
    );
    if let Some(note) = time_compression(outcome.chain.chain_id, outcome.chain.block_time_seconds) {
        let _ = writeln!(md, "{note}\n");
    }
    if let Some(genesis) = outcome.run.chain_genesis_timestamp {
        let shown = i64::try_from(genesis)
            .ok()
            .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_else(|| genesis.to_string());
        let _ = writeln!(md, "Chain time starts at {shown} (genesis block).\n");
    }
}

/// How long the chain takes per block in production, for the time-compression
/// note; `None` for chains this table does not know.
fn production_block_seconds(chain_id: u64) -> Option<f64> {
    match chain_id {
        1 | 11_155_111 => Some(12.0),
        100 => Some(5.0),
        137 | 8453 => Some(2.0),
        42_161 => Some(0.25),
        _ => None,
    }
}

/// What `block_time` does to the engine's budget: 1 s blocks on a 12 s chain
/// give it a twelfth of the time per block it has in production.
pub(crate) fn time_compression(chain_id: u64, block_time_seconds: f64) -> Option<String> {
    let real = production_block_seconds(chain_id)?;
    if block_time_seconds <= 0.0 {
        return None;
    }
    let factor = real / block_time_seconds;
    let text = if factor > 1.05 {
        format!(
            "**Time compression:** a block every {block_time_seconds} s here; chain {chain_id} makes one every {real} s in production, \
             so the engine's per-block budget is {factor:.1}× tighter than in production \
             (a rate-limited engine is judged {factor:.1}× harder)."
        )
    } else if factor < 0.95 {
        format!(
            "**Time dilation:** a block every {block_time_seconds} s here; chain {chain_id} makes one every {real} s in production, \
             so the engine has {:.1}× more time per block than in production.",
            1.0 / factor
        )
    } else {
        format!("Blocks come at chain {chain_id}'s production cadence ({real} s).")
    };
    Some(text)
}

/// The bottleneck hint: what failed first and which stage slowed down most.
fn hint(md: &mut String, outcome: &Outcome) {
    let b = &outcome.bottleneck;
    if let Some(first) = &b.first_failed_bar {
        let observed = outcome
            .bars
            .iter()
            .find(|bar| bar.bar == first.bar)
            .map(|bar| match bar.observed {
                Some(_) => format!(", observed {} at the end", observed(bar)),
                None => format!(" ({})", observed(bar)),
            })
            .unwrap_or_default();
        let when = match first.block {
            Some(block) => format!(", failing from block {block} on"),
            None => ", failing at the end of the run".to_owned(),
        };
        let _ = writeln!(
            md,
            "- **First bar to fail:** `{}`{when}{observed}.",
            first.bar
        );
    }
    match b
        .grew_most
        .as_ref()
        .and_then(|grew| b.stages.iter().find(|s| s.stage == *grew))
    {
        Some(stage) => {
            let _ = writeln!(
                md,
                "- **Grew most:** {} (p99 {} early in the load → {} late, +{}).",
                stage.stage,
                value(stage.early_seconds, "s"),
                value(stage.late_seconds, "s"),
                value(stage.growth_seconds, "s"),
            );
        }
        None if !b.stages.is_empty() => {
            md.push_str("- **Grew most:** no stage's latency grew during the load.\n");
        }
        None => {}
    }
    if let Some(stall) = &b.stalled {
        let _ = writeln!(
            md,
            "- **Engine stalled:** no order POST from block {} on for {} blocks while events waited ({} at the last silent block, {} lost to their deadline).",
            stall.from_block, stall.blocks, stall.events_waiting, stall.events_lost
        );
    }
    if b.first_failed_bar.is_some() || !b.stages.is_empty() || b.stalled.is_some() {
        md.push('\n');
    }
}

fn bars(md: &mut String, outcome: &Outcome) {
    let _ = writeln!(md, "## Bars\n\n{}\n", window(outcome.window.as_ref()));
    md.push_str("| | bar | observed | limit |\n|---|---|---|---|\n");
    if outcome.bars.is_empty() {
        md.push_str("| ✗ | (no bars: a run without bars cannot pass) | | |\n");
    }
    for bar in &outcome.bars {
        let mark = if bar.holds { "✓" } else { "✗" };
        let _ = writeln!(
            md,
            "| {mark} | `{}` | {} | {} {} |",
            cell(&bar.bar),
            cell(&observed(bar)),
            bar.op,
            value(bar.limit, bar.unit.suffix())
        );
    }
    md.push('\n');
}

fn delivery(md: &mut String, outcome: &Outcome) {
    let t = &outcome.totals;
    md.push_str("## Delivery and orders per kind\n\n");
    md.push_str(
        "| kind | requested | on chain | orders matched | lost | late | unjudged | event→order p50 | event→order p99 |\n\
         |---|---|---|---|---|---|---|---|---|\n",
    );
    for event_kind in EventKind::ALL {
        let (kind, label) = (event_kind.label(), event_kind.title());
        let (requested, delivered) = (t.requested[event_kind], t.delivered[event_kind]);
        let events = outcome.mock.as_ref().and_then(|m| m.events.get(kind));
        let n = |f: fn(&super::MockEvents) -> u64| {
            events.map_or("–".to_owned(), |e| f(e).to_string())
        };
        // The exact samples of the load window: what a bar on the latency reads.
        let latency = &outcome.event_to_order_seconds[event_kind];
        let q = |x: f64| {
            if latency.count > 0 {
                value(x, "s")
            } else {
                "–".to_owned()
            }
        };
        let _ = writeln!(
            md,
            "| {label} | {requested} | {delivered} | {} | {} | {} | {} | {} | {} |",
            n(|e| e.matched),
            n(|e| e.lost),
            n(|e| e.late),
            n(|e| e.unjudged),
            q(latency.p50),
            q(latency.p99),
        );
    }
    unjudged_note(md, outcome);
    twap_parts(md, outcome);
    lost_reasons(md, outcome);
    let ratio = t
        .delivered_ratio
        .map_or("n/a".to_owned(), |r| format!("{r:.4}"));
    let _ = writeln!(
        md,
        "\nDelivered ratio (on chain / requested): {ratio}. Peak active TWAPs: {}.\n",
        outcome
            .blocks
            .iter()
            .map(|b| b.active_twaps)
            .max()
            .unwrap_or(0)
    );
}

/// Why events (and TWAP parts) were lost, when any was.
fn lost_reasons(md: &mut String, outcome: &Outcome) {
    let Some(mock) = outcome.mock.as_ref() else {
        return;
    };
    let mut lines = Vec::new();
    for kind in EventKind::ALL {
        let label = kind.title();
        let Some(events) = mock.events.get(kind.label()) else {
            continue;
        };
        for (what, lost, reasons) in [
            ("events", events.lost, &events.lost_reasons),
            ("parts", events.parts_missing, &events.parts_missing_reasons),
        ] {
            if lost == 0 {
                continue;
            }
            let named: Vec<String> = reasons
                .iter()
                .filter(|(_, n)| **n > 0)
                .map(|(reason, n)| format!("{n} {reason}"))
                .collect();
            let unnamed = lost.saturating_sub(reasons.values().sum());
            let mut text = named.join(", ");
            if unnamed > 0 {
                if !text.is_empty() {
                    text.push_str(", ");
                }
                text.push_str(&format!("{unnamed} without a reason"));
            }
            lines.push(format!("{label} {what}: {lost} lost ({text})"));
        }
    }
    if lines.is_empty() {
        return;
    }
    let _ = writeln!(
        md,
        "\nWhy lost, by the last answer before giving up: {}.",
        lines.join("; ")
    );
}

/// The fault table, when the scenario has a `faults:` timeline.
fn faults(md: &mut String, outcome: &Outcome) {
    if outcome.faults.is_empty() {
        return;
    }
    let _ = writeln!(
        md,
        "## Faults\n\nA fault is charged with the events of the chain blocks mined while it held and of \
         the blocks before it that the engine had not read when it began (its `engine.progress`; \
         without it, the block mined just before); lost ones never got their order in time; \
         duplicates are counted from its start to the next fault's; recovery is from its end to \
         the first accepted order.\n"
    );
    let _ = writeln!(md, "| {} |", super::faults::HEADERS.join(" | "));
    let _ = writeln!(md, "|{}", "---|".repeat(super::faults::HEADERS.len()));
    for row in super::faults::rows(&outcome.faults) {
        let cells: Vec<String> = row.iter().map(|c| cell(c)).collect();
        let _ = writeln!(md, "| {} |", cells.join(" | "));
    }
    md.push('\n');
}

/// Why some orders are neither matched nor lost, when any is.
fn unjudged_note(md: &mut String, outcome: &Outcome) {
    let Some(mock) = outcome.mock.as_ref() else {
        return;
    };
    let events: u64 = mock.events.values().map(|e| e.unjudged).sum();
    let parts: u64 = mock.events.values().map(|e| e.parts_unjudged).sum();
    if events + parts == 0 {
        return;
    }
    let _ = writeln!(
        md,
        "\nUnjudged: {events} event(s) and {parts} TWAP part(s) whose deadline ({} blocks after \
         their block, or after a part's window opened) lay after the run's last block had no \
         order yet when the run ended. They were not due: neither matched nor lost, and no failure.",
        mock.order_deadline_blocks
    );
}

/// One line on TWAP parts (each part is one order), when any part's window opened.
fn twap_parts(md: &mut String, outcome: &Outcome) {
    let Some(twap) = outcome
        .mock
        .as_ref()
        .and_then(|m| m.events.get(EventKind::Twap.label()))
    else {
        return;
    };
    if twap.parts_expected == 0 {
        return;
    }
    let _ = writeln!(
        md,
        "\nTWAP parts (one order each; a TWAP's row above counts its part 0): {} opened, {} matched, \
         {} missing, {} late, {} duplicate, {} unjudged, {} awaiting; POSTs per part p50 {}, max {}.",
        twap.parts_expected,
        twap.parts_matched,
        twap.parts_missing,
        twap.parts_late,
        twap.parts_duplicate,
        twap.parts_unjudged,
        twap.parts_awaiting,
        twap.posts_per_event.p50,
        twap.posts_per_event.max,
    );
}

fn orders(md: &mut String, outcome: &Outcome) {
    let Some(mock) = &outcome.mock else { return };
    if mock.orders_received.is_empty() {
        return;
    }
    md.push_str(
        "### Order POSTs at the mock, by outcome\n\n| kind | outcome | POSTs |\n|---|---|---|\n",
    );
    for (kind, outcomes) in &mock.orders_received {
        for (result, count) in outcomes.iter().filter(|(_, c)| **c > 0) {
            let _ = writeln!(md, "| {kind} | {} | {count} |", cell(result));
        }
    }
    let _ = writeln!(
        md,
        "\n{} POSTs in all; {} accepted orders matched no event; {} POSTs still pending at the end.\n",
        mock.posts, mock.unmatched_orders, mock.pending_posts
    );
}

/// The first orders that were due and did not get their order, each with its transaction,
/// owner, part, reason and the answers the engine got; `orders.jsonl` has every order.
fn lost_and_missing(md: &mut String, outcome: &Outcome) {
    let Some(orders) = outcome.orders.as_ref().filter(|o| o.failed_total > 0) else {
        return;
    };
    let shown = orders.failed.len() as u64;
    let _ = writeln!(
        md,
        "### Lost and missing\n\n{} order(s) were due and did not get their order in time; {}. \
         Every order, with every request made for it, is in [orders.jsonl](orders.jsonl).\n\n\
         | kind | block | tx | owner | part | outcome | reason | requests made |\n\
         |---|---|---|---|---|---|---|---|",
        orders.failed_total,
        if shown < orders.failed_total {
            format!("the first {shown} are listed")
        } else {
            "all are listed".to_owned()
        }
    );
    for line in &orders.failed {
        let _ = writeln!(
            md,
            "| {} | {} | `{}` | `{}` | {} | {} | {} | {} |",
            line.kind.title(),
            line.block,
            line.tx,
            line.owner,
            line.part.map_or("–".to_owned(), |p| p.to_string()),
            line.outcome.label(),
            line.reason.map_or("–", |r| r.label()),
            cell(&requests_made(line)),
        );
    }
    md.push('\n');
}

/// `2× POST /api/v1/orders 503, then 1× GET /api/v1/orders/{uid} 404`, or `none`.
fn requests_made(line: &cowload_spec::OrderLine) -> String {
    if line.requests.is_empty() {
        return "none".to_owned();
    }
    let mut runs: Vec<(String, usize)> = Vec::new();
    for request in &line.requests {
        let status = request.status.map_or("reset".to_owned(), |s| s.to_string());
        let text = format!("{} {status} {}", request.route.as_str(), request.answer);
        match runs.last_mut() {
            Some((last, n)) if *last == text => *n += 1,
            _ => runs.push((text, 1)),
        }
    }
    let mut said: Vec<String> = runs
        .iter()
        .map(|(text, n)| format!("{n}× {text}"))
        .collect();
    let listed = line.requests.len() as u64;
    if line.requests_total > listed {
        said.push(format!("{} more", line.requests_total - listed));
    }
    said.join(", then ")
}

/// What the engine asked the orderbook: per owed order from the exact per-order counts, and
/// per accepted order as a ratio of totals over every route it used.
fn requests(md: &mut String, outcome: &Outcome) {
    if let Some(orders) = outcome
        .orders
        .as_ref()
        .filter(|o| !o.requests_per_order.is_empty())
    {
        md.push_str(
            "### Requests per order\n\n\
             Requests the engine made for each order that was due (matched, lost, late or \
             mismatched), by route and answer: exact quantiles over those orders, an order \
             without such a request counting 0.\n\n\
             | route | status | orders with | requests | per order p50 | p99 | max |\n\
             |---|---|---|---|---|---|---|\n",
        );
        for row in &orders.requests_per_order {
            let status = row.status.map_or("reset".to_owned(), |s| s.to_string());
            let _ = writeln!(
                md,
                "| {} | {status} | {} | {} | {} | {} | {} |",
                cell(row.route.as_str()),
                row.orders_with,
                row.requests,
                short_number(row.p50),
                short_number(row.p99),
                short_number(row.max),
            );
        }
        md.push('\n');
    }
    if outcome.requests_per_order.is_empty() {
        return;
    }
    md.push_str(
        "### Requests per accepted order\n\n\
         Requests the engine made in the load window, by route and answer, divided by the orders \
         the orderbook accepted (a ratio of totals over every route, app data included).\n\n\
         | route | status | requests | per accepted order |\n|---|---|---|---|\n",
    );
    for row in &outcome.requests_per_order {
        let ratio = row
            .per_accepted_order
            .map_or("–".to_owned(), |r| format!("{r:.2}"));
        let _ = writeln!(
            md,
            "| {} | {} | {} | {ratio} |",
            cell(&row.route),
            row.status,
            row.requests
        );
    }
    md.push('\n');
}

/// Where the time went: per-stage growth, harness timings and the plot.
fn time(md: &mut String, outcome: &Outcome) {
    md.push_str("## Where the time went\n\n");
    if !outcome.blocks.is_empty() {
        md.push_str(
            "![per block: events delivered, orders received, event→order p99](plot.svg)\n\n",
        );
    }
    if !outcome.bottleneck.stages.is_empty() {
        md.push_str(
            "p99 per block, median over the first and the last third of the loaded blocks:\n\n\
             | stage | early | late | growth |\n|---|---|---|---|\n",
        );
        for s in &outcome.bottleneck.stages {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {}{} |",
                s.stage,
                value(s.early_seconds, "s"),
                value(s.late_seconds, "s"),
                if s.growth_seconds > 0.0 { "+" } else { "" },
                value(s.growth_seconds, "s"),
            );
        }
        md.push('\n');
    }
    let timings = &outcome.run.blocks;
    if !timings.is_empty() {
        let mean = |f: fn(&super::BlockTimingRow) -> f64| {
            timings.iter().map(f).sum::<f64>() / timings.len() as f64
        };
        let worst = timings.iter().map(|t| t.late_ms).fold(0.0, f64::max);
        let _ = writeln!(
            md,
            "Harness per block (mean): build {:.1} ms, send {:.1} ms, verify {:.1} ms; \
             latest block {:.0} ms behind its slot. Runner start → first loaded block: {}.\n",
            mean(|t| t.build_ms),
            mean(|t| t.send_ms),
            mean(|t| t.verify_ms),
            worst,
            outcome
                .run
                .time_to_first_load_block_seconds
                .map_or("n/a".to_owned(), |s| value(s, "s")),
        );
    }
}

/// Rows of one source's metrics that moved (or have quantiles).
fn metrics(md: &mut String, outcome: &Outcome, source: Source, title: &str) {
    let rows: Vec<(&String, &MetricSummary)> = outcome
        .metrics
        .iter()
        .filter(|(_, m)| m.source == source && interesting(m))
        .collect();
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(
        md,
        "## {title}\n\n| metric | start | end | Δ | p50 | p99 |\n|---|---|---|---|---|---|"
    );
    for (name, m) in rows.iter().take(MAX_METRICS_LISTED) {
        let unit = if name
            .split('{')
            .next()
            .is_some_and(|n| n.contains("_seconds"))
        {
            "s"
        } else {
            ""
        };
        let number = |x: Option<f64>, u: &str| x.map_or("–".to_owned(), |x| value(x, u));
        // A histogram quantile shows its bucket; one beyond the top bucket is "> bound".
        let quantile = |key: &str| match (m.quantiles.get(key), m.quantiles_above.get(key)) {
            (Some(x), _) => match m.quantile_buckets.get(key) {
                Some(Bucket {
                    lower,
                    upper: Some(upper),
                }) => format!(
                    "{} ({} bucket)",
                    value(*x, unit),
                    bucket_range(*lower, *upper, unit)
                ),
                _ => value(*x, unit),
            },
            (None, Some(bound_value)) => format!("> {}", bound(*bound_value, unit)),
            (None, None) => "–".to_owned(),
        };
        let _ = writeln!(
            md,
            "| `{}` | {} | {} | {} | {} | {} |",
            cell(name),
            number(m.start, ""),
            number(m.end, ""),
            number(m.delta, ""),
            quantile("p50"),
            quantile("p99"),
        );
    }
    let more = rows.len().saturating_sub(MAX_METRICS_LISTED);
    if more > 0 {
        let _ = writeln!(md, "\n… and {more} more in outcome.json.");
    }
    md.push_str(
        "\nFor histograms and summaries, start/end/Δ count observations. \
         Series that stayed at zero are left out; outcome.json has them all.\n\n",
    );
}

/// Worth a row: it moved, or it has quantiles, or a gauge ended non-zero.
fn interesting(m: &MetricSummary) -> bool {
    let moved = m.delta.is_some_and(|d| d != 0.0);
    let nonzero_gauge = m.kind == MetricKind::Gauge && m.end.is_some_and(|e| e != 0.0);
    moved || nonzero_gauge || !m.quantiles.is_empty()
}

fn mock(md: &mut String, outcome: &Outcome) {
    let Some(mock) = &outcome.mock else { return };
    md.push_str("## Mock orderbook\n\n");
    let _ = writeln!(
        md,
        "An event without an accepted order {} blocks after its own counts as lost.\n",
        mock.order_deadline_blocks
    );
    let has_requests = mock
        .requests
        .values()
        .flat_map(|s| s.values())
        .any(|c| *c > 0);
    if has_requests {
        md.push_str("| route | status | requests |\n|---|---|---|\n");
        for (route, statuses) in &mock.requests {
            for (status, count) in statuses.iter().filter(|(_, c)| **c > 0) {
                let _ = writeln!(md, "| `{}` | {status} | {count} |", cell(route));
            }
        }
        md.push('\n');
    }
    metrics_inline(md, outcome);
}

fn metrics_inline(md: &mut String, outcome: &Outcome) {
    let mut sub = String::new();
    metrics(&mut sub, outcome, Source::Mock, "Mock metrics");
    // One level down: the mock's metrics belong to its section.
    md.push_str(&sub.replacen("## Mock metrics", "### Mock metrics", 1));
}

fn failures(md: &mut String, outcome: &Outcome) {
    let all: Vec<_> = outcome
        .blocks
        .iter()
        .flat_map(|b| b.failures.iter().map(move |f| (b.number, f)))
        .collect();
    if all.is_empty() {
        return;
    }
    let _ = writeln!(md, "## Transactions without their event ({})\n", all.len());
    md.push_str("| block | kind | tx | reason |\n|---|---|---|---|\n");
    for (block, f) in all.iter().take(MAX_FAILURES_LISTED) {
        let _ = writeln!(
            md,
            "| {block} | {} | `{}` | {} |",
            f.kind,
            f.tx,
            cell(&f.reason)
        );
    }
    if all.len() > MAX_FAILURES_LISTED {
        let _ = writeln!(
            md,
            "\n… and {} more in outcome.json.",
            all.len() - MAX_FAILURES_LISTED
        );
    }
    md.push('\n');
}

fn engine_log(md: &mut String, outcome: &Outcome) {
    let tail = outcome.run.engine_log_tail.join("\n");
    let tail = tail.trim();
    if tail.is_empty() {
        return;
    }
    let _ = writeln!(md, "## Engine log (last lines)\n\n```\n{tail}\n```\n");
}

fn files(md: &mut String, outcome: &Outcome) {
    md.push_str(
        "## Files\n\n- [outcome.json](outcome.json)\n- [plot.svg](plot.svg)\n- [anvil.log](anvil.log)\n",
    );
    if outcome.versions.engine_command.is_some() {
        md.push_str(
            "- [engine.log](engine.log)\n- [engine metrics scrapes](metrics/engine.prom)\n",
        );
    }
    md.push_str("- [mock metrics scrapes](metrics/mock.prom)\n");
}

/// A number with its unit, in the unit's natural scale.
pub fn value(x: f64, unit: &str) -> String {
    match unit {
        "s" if x == 0.0 => "0 s".to_owned(),
        "s" if x.abs() < 1.0 => format!("{:.1} ms", x * 1000.0),
        "s" => format!("{x:.3} s"),
        _ if x.fract() == 0.0 && x.abs() < 1e15 => format!("{x:.0}"),
        _ => format!("{x:.4}"),
    }
}

/// Which scrapes the bars judged, in one sentence.
pub fn window(window: Option<&LoadWindow>) -> String {
    let Some(w) = window else {
        return "No load window: the run never mined a loaded block, so no bar has data."
            .to_owned();
    };
    let blocks = match (w.first_block, w.last_block) {
        (Some(first), Some(last)) => format!("blocks {first}–{last}, "),
        _ => String::new(),
    };
    format!(
        "Bars judge the load window: scrapes `{}` → `{}` ({blocks}{} scrapes); warm-up is left out.",
        w.from, w.to, w.scrapes
    )
}

/// A bar's observed value as every report prints it: `no data: why`, a
/// plain value, a histogram quantile with its bucket (`55.200 s (30–60 s
/// bucket)`), or `> 10 s` when the rank fell in the `+Inf` bucket; a reason
/// that left the bar undecided follows after a semicolon.
pub fn observed(bar: &BarResult) -> String {
    let Some(x) = bar.observed else {
        return match &bar.reason {
            Some(reason) => format!("no data: {reason}"),
            None => "no data".to_owned(),
        };
    };
    let text = match bar.bucket {
        Some(Bucket { lower, upper: None }) => format!("> {}", bound(lower, bar.unit.suffix())),
        Some(Bucket {
            lower,
            upper: Some(upper),
        }) => format!(
            "{} ({} bucket)",
            value(x, bar.unit.suffix()),
            bucket_range(lower, upper, bar.unit.suffix())
        ),
        None => value(x, bar.unit.suffix()),
    };
    match &bar.reason {
        Some(reason) => format!("{text}; {reason}"),
        None => text,
    }
}

/// A bucket bound, as short as it is exact: `10 s`, `250 ms`, `2.5`.
fn bound(x: f64, unit: &str) -> String {
    match unit {
        "s" if x != 0.0 && x.abs() < 1.0 => format!("{} ms", short_number(x * 1000.0)),
        "s" => format!("{} s", short_number(x)),
        _ => short_number(x),
    }
}

/// `30–60 s`, `100–250 ms`, `0–5 ms`; bounds on different scales each keep
/// their own unit (`500 ms–1 s`).
fn bucket_range(lower: f64, upper: f64, unit: &str) -> String {
    let hi = bound(upper, unit);
    if lower == 0.0 {
        return format!("0–{hi}");
    }
    let lo = bound(lower, unit);
    match (lo.split_once(' '), hi.split_once(' ')) {
        (Some((number, lo_unit)), Some((_, hi_unit))) if lo_unit == hi_unit => {
            format!("{number}–{hi}")
        }
        _ => format!("{lo}–{hi}"),
    }
}

/// A number rounded to six decimals and printed without trailing zeros.
fn short_number(x: f64) -> String {
    format!("{}", (x * 1e6).round() / 1e6 + 0.0)
}

/// Text safe inside a table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

fn short(hash: &str) -> &str {
    &hash[..hash.len().min(12)]
}
