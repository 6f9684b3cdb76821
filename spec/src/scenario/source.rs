//! The text of a scenario file before and after `${VAR}` interpolation.
//!
//! Interpolation happens on the raw text, before YAML or TOML parsing, so a
//! variable can stand anywhere (a number, part of a URL, a whole list item).
//! That shifts byte offsets, and every later error (serde's and the
//! validator's) is found in the expanded text; [`Source`] remembers each
//! substitution so those places are reported at the line and column of the
//! file the user actually wrote.

/// Placeholders the engine stage fills per run; interpolation keeps them
/// verbatim. The one list: the engine stage fills exactly these (a test holds
/// it to that), validation and error messages name them from here.
pub const RUNTIME_PLACEHOLDERS: &[&str] = &[
    "RPC_HTTP_URL",
    "RPC_WS_URL",
    "ORDERBOOK_URL",
    "METRICS_ADDR",
    "METRICS_HOST",
    "METRICS_PORT",
    "STATE_DIR",
    "WORK_DIR",
    "SCENARIO_DIR",
    "START_BLOCK",
    "CHAIN_ID",
    "CHAIN_NAME",
    "CONFIG_PATH",
];

/// Substituted values shorter than this are not scrubbed from messages: a
/// `7` or an `on` is no secret, and hiding it would garble the message.
const MIN_SCRUBBED_CHARS: usize = 4;

/// One substitution: `original[src_start..src_end]` became `expanded[out_start..out_end]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Edit {
    src_start: usize,
    src_end: usize,
    out_start: usize,
    out_end: usize,
}

/// A scenario file's text as written and as expanded.
#[derive(Debug, Clone)]
pub struct Source {
    /// The file as written (without a leading byte-order mark).
    pub original: String,
    /// The text with `${VAR}` replaced; what serde reads.
    pub expanded: String,
    /// Substitutions in increasing order of position.
    edits: Vec<Edit>,
}

/// An interpolation mistake at a byte offset of the original text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterpolationError {
    pub offset: usize,
    pub message: String,
}

impl Source {
    /// Expands every `${NAME}` outside comment lines with `lookup(NAME)`.
    ///
    /// Runtime placeholders stay as they are, `$${` becomes a literal `${`, and
    /// every unset variable, unclosed `${` or bad name is reported (all of them,
    /// not only the first).
    pub fn expand(
        original: String,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, Vec<InterpolationError>> {
        let mut expander = Expander {
            text: &original,
            lookup,
            expanded: String::with_capacity(original.len()),
            edits: Vec::new(),
            errors: Vec::new(),
        };
        let mut line_start = 0;
        for line in original.split_inclusive('\n') {
            if line.trim_start().starts_with('#') {
                expander.expanded.push_str(line);
            } else {
                expander.line(line_start, line);
            }
            line_start += line.len();
        }
        let Expander {
            expanded,
            edits,
            errors,
            ..
        } = expander;
        if errors.is_empty() {
            Ok(Self {
                original,
                expanded,
                edits,
            })
        } else {
            Err(errors)
        }
    }

    /// Line and column (1-based, in characters) in the original text of a
    /// byte offset into the expanded text. A place inside a substituted value
    /// maps to the `${` that produced it.
    pub fn place_of_expanded(&self, offset: usize) -> (usize, usize) {
        line_col(&self.original, self.original_offset(offset))
    }

    /// `message` with every substituted value (of at least
    /// [`MIN_SCRUBBED_CHARS`] characters) replaced by the `${NAME}` that
    /// produced it, so an error never shows what a variable held (an API key
    /// in an RPC URL, say). Each place takes the longest value found there.
    pub fn scrub(&self, message: &str) -> String {
        let secrets = self.secrets();
        if secrets.is_empty() {
            return message.to_owned();
        }
        let mut out = String::with_capacity(message.len());
        let mut rest = message;
        while let Some(c) = rest.chars().next() {
            match secrets
                .iter()
                .find(|(value, _)| rest.starts_with(value.as_str()))
            {
                Some((value, written)) => {
                    out.push_str(written);
                    rest = &rest[value.len()..];
                }
                None => {
                    out.push(c);
                    rest = &rest[c.len_utf8()..];
                }
            }
        }
        out
    }

    /// Each substituted value worth hiding (also as serde and `{:?}` quote it,
    /// with escapes) and the `${NAME}` written for it, longest value first.
    fn secrets(&self) -> Vec<(String, &str)> {
        let mut secrets = Vec::new();
        for edit in self.hidden_edits() {
            let written = &self.original[edit.src_start..edit.src_end];
            let value = &self.expanded[edit.out_start..edit.out_end];
            let quoted = format!("{value:?}");
            let escaped = &quoted[1..quoted.len() - 1];
            if escaped != value {
                secrets.push((escaped.to_owned(), written));
            }
            secrets.push((value.to_owned(), written));
        }
        secrets.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.cmp(b)));
        secrets.dedup();
        secrets
    }

    /// True when part of `expanded[range]` came from a value [`Source::scrub`]
    /// hides: a message quoting a piece of that text could show part of it.
    pub fn holds_hidden_value(&self, range: std::ops::Range<usize>) -> bool {
        self.hidden_edits()
            .any(|edit| edit.out_start < range.end && range.start < edit.out_end)
    }

    /// The substitutions of `${NAME}` whose value [`Source::scrub`] hides
    /// (`$${` escapes are edits too, but hide nothing).
    fn hidden_edits(&self) -> impl Iterator<Item = &Edit> {
        self.edits.iter().filter(|edit| {
            self.original[edit.src_start..edit.src_end].starts_with("${")
                && self.expanded[edit.out_start..edit.out_end].chars().count() >= MIN_SCRUBBED_CHARS
        })
    }

    fn original_offset(&self, out: usize) -> usize {
        let mut src = out;
        for edit in &self.edits {
            if out < edit.out_start {
                break;
            }
            if out < edit.out_end {
                return edit.src_start;
            }
            src = edit.src_end + (out - edit.out_end);
        }
        src
    }
}

struct Expander<'a> {
    text: &'a str,
    lookup: &'a dyn Fn(&str) -> Option<String>,
    expanded: String,
    edits: Vec<Edit>,
    errors: Vec<InterpolationError>,
}

impl Expander<'_> {
    /// Expands one non-comment line starting at byte `start` of the text.
    fn line(&mut self, start: usize, line: &str) {
        let mut i = 0;
        while let Some(rel) = line[i..].find('$') {
            let at = i + rel;
            self.expanded.push_str(&line[i..at]);
            let rest = &line[at..];
            if rest.starts_with("$${") {
                self.substitute(start + at, start + at + 3, "${");
                i = at + 3;
            } else if rest.starts_with("${") {
                i = at + self.variable(start + at, rest);
            } else {
                self.expanded.push('$');
                i = at + 1;
            }
        }
        self.expanded.push_str(&line[i..]);
    }

    /// Handles `${…` at byte `at` of the text; returns how many bytes it used.
    fn variable(&mut self, at: usize, rest: &str) -> usize {
        let body = &rest[2..];
        let Some(close) = body
            .find(['}', '\n'])
            .filter(|&c| body[c..].starts_with('}'))
        else {
            self.fail(
                at,
                "unclosed `${`: write `${NAME}`, or `$${` for a literal `${`",
            );
            self.expanded.push_str("${");
            return 2;
        };
        let name = &body[..close];
        let used = close + 3;
        if !is_variable_name(name) {
            self.fail(
                at,
                format!(
                    "`${{{name}}}` is not a variable name: use letters, digits and `_`, not starting with a digit (write `$${{` for a literal `${{`)"
                ),
            );
            self.expanded.push_str(&rest[..used]);
        } else if RUNTIME_PLACEHOLDERS.contains(&name) {
            self.expanded.push_str(&rest[..used]);
        } else if let Some(value) = (self.lookup)(name) {
            self.substitute(at, at + used, &value);
        } else {
            self.fail(
                at,
                format!("environment variable {name} is not set: export it, or write `$${{{name}}}` for a literal `${{{name}}}`"),
            );
            self.expanded.push_str(&rest[..used]);
        }
        used
    }

    fn substitute(&mut self, src_start: usize, src_end: usize, value: &str) {
        let out_start = self.expanded.len();
        self.expanded.push_str(value);
        self.edits.push(Edit {
            src_start,
            src_end,
            out_start,
            out_end: self.expanded.len(),
        });
    }

    fn fail(&mut self, offset: usize, message: impl Into<String>) {
        debug_assert!(offset <= self.text.len());
        self.errors.push(InterpolationError {
            offset,
            message: message.into(),
        });
    }
}

fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// 1-based line and column (in characters) of a byte offset; offsets past
/// the end or inside a character are clamped, never a panic.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |nl| nl + 1);
    (line, before[line_start..].chars().count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOST" => Some("example.invalid".into()),
            "N" => Some("20".into()),
            "EMPTY" => Some(String::new()),
            "LONG" => Some("a-much-longer-value".into()),
            _ => None,
        }
    }

    fn expand(text: &str) -> Result<Source, Vec<InterpolationError>> {
        Source::expand(text.to_owned(), &env)
    }

    #[test]
    fn expands_and_keeps_what_it_must() {
        let cases = [
            ("plain: 1\n", "plain: 1\n"),
            (
                "url: http://${HOST}:8545\n",
                "url: http://example.invalid:8545\n",
            ),
            ("twap: ${N}\nethflow: ${N}\n", "twap: 20\nethflow: 20\n"),
            ("x: '${EMPTY}'\n", "x: ''\n"),
            ("x: $${HOST}\n", "x: ${HOST}\n"),
            ("x: $${NOT_SET}\n", "x: ${NOT_SET}\n"),
            ("x: $$ and $5 and $\n", "x: $$ and $5 and $\n"),
            (
                "m: http://${METRICS_ADDR}/metrics\n",
                "m: http://${METRICS_ADDR}/metrics\n",
            ),
            (
                "c: [e, --config, ${CONFIG_PATH}]\n",
                "c: [e, --config, ${CONFIG_PATH}]\n",
            ),
            (
                "id: ${CHAIN_ID}${RPC_HTTP_URL}${RPC_WS_URL}\n",
                "id: ${CHAIN_ID}${RPC_HTTP_URL}${RPC_WS_URL}\n",
            ),
            (
                "s: ${STATE_DIR} ${ORDERBOOK_URL}",
                "s: ${STATE_DIR} ${ORDERBOOK_URL}",
            ),
            ("# ${NOT_SET} in a comment\n", "# ${NOT_SET} in a comment\n"),
            (
                "   # indented ${NOT_SET} comment\n",
                "   # indented ${NOT_SET} comment\n",
            ),
            ("é: ${HOST}é\n", "é: example.invalidé\n"),
        ];
        for (input, want) in cases {
            let source = expand(input).unwrap_or_else(|e| panic!("{input:?}: {e:?}"));
            assert_eq!(source.expanded, want, "input {input:?}");
            assert_eq!(source.original, input);
        }
    }

    #[test]
    fn reports_every_mistake_at_its_dollar_sign() {
        let cases: [(&str, &[(usize, &str)]); 6] = [
            (
                "a: ${NOT_SET}\n",
                &[(3, "environment variable NOT_SET is not set")],
            ),
            (
                "a: ${NOPE_1}\nb: ${HOST}\nc: x${NOPE_2}\n",
                &[
                    (3, "environment variable NOPE_1 is not set"),
                    (28, "environment variable NOPE_2 is not set"),
                ],
            ),
            ("a: ${HOST\n", &[(3, "unclosed `${`")]),
            ("a: ${HOST\nb: }\n", &[(3, "unclosed `${`")]),
            ("a: ${}\n", &[(3, "`${}` is not a variable name")]),
            (
                "a: ${1X} ${A B}\n",
                &[(3, "`${1X}` is not"), (9, "`${A B}` is not")],
            ),
        ];
        for (input, want) in cases {
            let errors = expand(input).expect_err(input);
            let got: Vec<_> = errors.iter().map(|e| e.offset).collect();
            let want_offsets: Vec<_> = want.iter().map(|(o, _)| *o).collect();
            assert_eq!(got, want_offsets, "input {input:?}: {errors:?}");
            for (error, (_, text)) in errors.iter().zip(want) {
                assert!(
                    error.message.contains(text),
                    "{:?} lacks {text:?}",
                    error.message
                );
            }
        }
    }

    #[test]
    fn places_in_the_expanded_text_map_back_to_the_file() {
        let source = expand("a: ${LONG} x\nb: ${N}${N} y\n$${Q} z\n").expect("expands");
        assert_eq!(
            source.expanded,
            "a: a-much-longer-value x\nb: 2020 y\n${Q} z\n"
        );
        let at = |needle: &str| source.expanded.find(needle).expect("needle present");
        // Before, inside and after a substitution on line 1.
        assert_eq!(source.place_of_expanded(at("a:")), (1, 1));
        assert_eq!(source.place_of_expanded(at("longer")), (1, 4));
        assert_eq!(source.place_of_expanded(at(" x")), (1, 11));
        // Two substitutions in a row on line 2: "b: ${N}${N} y".
        assert_eq!(source.place_of_expanded(at("2020")), (2, 4));
        assert_eq!(source.place_of_expanded(at("2020") + 2), (2, 8));
        assert_eq!(source.place_of_expanded(at(" y")), (2, 12));
        // The `$${` escape is one byte shorter once expanded.
        assert_eq!(source.place_of_expanded(at("{Q}")), (3, 1));
        assert_eq!(source.place_of_expanded(at(" z")), (3, 6));
        // Past the end clamps.
        assert_eq!(source.place_of_expanded(10_000), (4, 1));
    }

    #[test]
    fn scrub_hides_every_long_enough_value() {
        let source = expand("a: ${LONG} ${HOST}\nb: ${N} $${HOST}\n").expect("expands");
        let cases = [
            (
                "got \"a-much-longer-value\" and example.invalid",
                "got \"${LONG}\" and ${HOST}",
            ),
            // Values shorter than four characters stay: "20" is no secret.
            ("20 items", "20 items"),
            ("example.invalidexample.invalid", "${HOST}${HOST}"),
            ("ça a-much-longer-value!", "ça ${LONG}!"),
            ("nothing here", "nothing here"),
        ];
        for (message, want) in cases {
            assert_eq!(source.scrub(message), want, "{message}");
        }
        let quoted = Source::expand("q: ${Q}\n".to_owned(), &|_| Some("a\"b\\c".to_owned()))
            .expect("expands");
        assert_eq!(quoted.scrub(r#"x "a\"b\\c" y a"b\c"#), "x \"${Q}\" y ${Q}");
    }

    #[test]
    fn hidden_values_are_found_by_range() {
        // "a: example.invalid 20 ${HOST}": HOST at 3..18, N at 19..21 (too short to hide).
        let source = expand("a: ${HOST} ${N} $${HOST}\n").expect("expands");
        let cases = [
            (0..3, false),
            (0..4, true),
            (17..18, true),
            (18..30, false),
            (19..21, false),
        ];
        for (range, want) in cases {
            assert_eq!(source.holds_hidden_value(range.clone()), want, "{range:?}");
        }
    }

    #[test]
    fn line_col_counts_characters_and_clamps() {
        let text = "ab\nçd\n";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 3), (2, 1));
        assert_eq!(line_col(text, 4), (2, 1)); // inside 'ç' → its start
        assert_eq!(line_col(text, 5), (2, 2));
        assert_eq!(line_col(text, 99), (3, 1));
        assert_eq!(line_col("", 5), (1, 1));
    }
}
