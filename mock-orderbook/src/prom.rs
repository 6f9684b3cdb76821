//! Prometheus text exposition (format 0.0.4), rendered by hand from the mock's own counters.
//!
//! The mock's numbers live in plain structs behind the truth's lock; rendering them on scrape
//! keeps the hot path to a few integer increments and lets every labelled series exist with
//! value 0 from the first scrape, which a bar such as `increase(x) == 0` needs.

use std::fmt::Write;

/// Upper bounds (seconds) of `cowload_event_to_order_seconds`.
pub const EVENT_TO_ORDER_SECONDS_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0,
];
/// Upper bounds (blocks) of `cowload_event_to_order_blocks`.
pub const EVENT_TO_ORDER_BLOCKS_BUCKETS: &[f64] = &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 10.0, 20.0, 50.0];
/// Upper bounds of `cowload_order_posts_per_event`.
pub const POSTS_PER_EVENT_BUCKETS: &[f64] = &[1.0, 2.0, 3.0, 4.0, 5.0, 10.0, 20.0, 50.0, 100.0];
/// Upper bounds (seconds) of `cowload_mock_request_duration_seconds`.
pub const REQUEST_SECONDS_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// A cumulative-bucket histogram with fixed upper bounds, as Prometheus exposes it.
#[derive(Clone, Debug)]
pub struct Buckets {
    bounds: &'static [f64],
    /// Non-cumulative counts per bound; the `+Inf` overflow is `count - sum(counts)`.
    counts: Vec<u64>,
    count: u64,
    sum: f64,
}

impl Buckets {
    /// An empty histogram over `bounds` (ascending).
    pub fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            counts: vec![0; bounds.len()],
            count: 0,
            sum: 0.0,
        }
    }

    /// Records one observation.
    pub fn observe(&mut self, value: f64) {
        if let Some(i) = self.bounds.iter().position(|&b| value <= b) {
            self.counts[i] += 1;
        }
        self.count += 1;
        self.sum += value;
    }
}

/// Builds the text of one scrape.
#[derive(Default)]
pub struct Exposition {
    text: String,
}

impl Exposition {
    /// Writes the `# HELP` and `# TYPE` header of a metric family.
    pub fn header(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.text, "# HELP {name} {help}");
        let _ = writeln!(self.text, "# TYPE {name} {kind}");
    }

    /// Writes one sample of a counter or gauge.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        let _ = writeln!(
            self.text,
            "{name}{} {}",
            render_labels(labels),
            number(value)
        );
    }

    /// Writes the `_bucket`, `_sum` and `_count` samples of one histogram series.
    pub fn histogram(&mut self, name: &str, labels: &[(&str, &str)], h: &Buckets) {
        let mut cumulative = 0;
        for (bound, count) in h.bounds.iter().zip(&h.counts) {
            cumulative += count;
            let le = number(*bound);
            let mut with_le = labels.to_vec();
            with_le.push(("le", &le));
            self.sample(&format!("{name}_bucket"), &with_le, cumulative as f64);
        }
        let mut with_inf = labels.to_vec();
        with_inf.push(("le", "+Inf"));
        self.sample(&format!("{name}_bucket"), &with_inf, h.count as f64);
        self.sample(&format!("{name}_sum"), labels, h.sum);
        self.sample(&format!("{name}_count"), labels, h.count as f64);
    }

    /// The finished text.
    pub fn finish(self) -> String {
        self.text
    }
}

fn render_labels(labels: &[(&str, &str)]) -> String {
    if labels.is_empty() {
        return String::new();
    }
    let inner: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect();
    format!("{{{}}}", inner.join(","))
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn number(value: f64) -> String {
    if value.is_infinite() {
        return if value > 0.0 { "+Inf" } else { "-Inf" }.to_owned();
    }
    format!("{value}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_lines_table() {
        type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], f64, &'a str);
        let cases: &[Case] = &[
            ("x_total", &[], 0.0, "x_total 0\n"),
            (
                "x_total",
                &[("kind", "twap")],
                3.0,
                "x_total{kind=\"twap\"} 3\n",
            ),
            (
                "x",
                &[("a", "1"), ("b", "q\"\\\n")],
                0.25,
                "x{a=\"1\",b=\"q\\\"\\\\\\n\"} 0.25\n",
            ),
            ("x", &[], f64::INFINITY, "x +Inf\n"),
        ];
        for (name, labels, value, expected) in cases {
            let mut e = Exposition::default();
            e.sample(name, labels, *value);
            assert_eq!(e.finish(), *expected);
        }
    }

    #[test]
    fn histogram_is_cumulative_with_inf_sum_and_count() {
        let mut h = Buckets::new(&[1.0, 2.0]);
        for v in [0.5, 1.0, 1.5, 7.0] {
            h.observe(v);
        }
        let mut e = Exposition::default();
        e.histogram("h", &[("kind", "twap")], &h);
        let text = e.finish();
        let expected = "h_bucket{kind=\"twap\",le=\"1\"} 2\n\
                        h_bucket{kind=\"twap\",le=\"2\"} 3\n\
                        h_bucket{kind=\"twap\",le=\"+Inf\"} 4\n\
                        h_sum{kind=\"twap\"} 10\n\
                        h_count{kind=\"twap\"} 4\n";
        assert_eq!(text, expected);
    }
}
