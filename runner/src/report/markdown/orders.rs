//! The order sections of `report.md`: why events were lost, TWAP parts, the orders per
//! kind, the owed orders that were lost or missing, and the requests each order took.

use std::fmt::Write;

use cowload_spec::EventKind;

use super::format::{cell, short_number};
use crate::report::Outcome;

/// Why events (and TWAP parts) were lost, when any was.
pub(super) fn lost_reasons(md: &mut String, outcome: &Outcome) {
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

/// One line on TWAP parts (each part is one order), when any part's window opened.
pub(super) fn twap_parts(md: &mut String, outcome: &Outcome) {
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

pub(super) fn orders(md: &mut String, outcome: &Outcome) {
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
pub(super) fn lost_and_missing(md: &mut String, outcome: &Outcome) {
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
pub(super) fn requests(md: &mut String, outcome: &Outcome) {
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
