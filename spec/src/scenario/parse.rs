//! Bytes → text → [`Scenario`], with every syntax and type error placed at a
//! line and column of the file as written.
//!
//! YAML goes through `serde_yaml_ng`, chosen over the archived `serde_yaml`
//! because it is a maintained drop-in whose errors carry a line and column
//! (and a byte index, which survives our `${VAR}` offset mapping). TOML goes
//! through `toml`, whose errors carry a byte span. Both feed the same serde
//! types, so unknown fields, wrong types and negative counts are refused the
//! same way in both formats.

use std::path::Path;

use super::error::Problem;
use super::model::Scenario;
use super::source::{line_col, Source};

/// Scenario files larger than this are refused before parsing: a real
/// scenario is a few hundred bytes, and the cap bounds parser work on garbage.
pub const MAX_FILE_BYTES: usize = 1024 * 1024;

/// The two spellings of a scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Yaml,
    Toml,
}

impl Format {
    /// The format named by the file's extension, if it is one we read.
    pub fn of(path: &Path) -> Option<Self> {
        let extension = path.extension()?.to_str()?.to_ascii_lowercase();
        match extension.as_str() {
            "yaml" | "yml" => Some(Self::Yaml),
            "toml" => Some(Self::Toml),
            _ => None,
        }
    }
}

/// Checks size and encoding and drops a leading byte-order mark.
pub fn decode(path: &Path, bytes: &[u8]) -> Result<String, Problem> {
    if bytes.len() > MAX_FILE_BYTES {
        return Err(Problem::whole_file(
            path,
            format!("the file is larger than {MAX_FILE_BYTES} bytes; a scenario may be at most {MAX_FILE_BYTES} bytes"),
        ));
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(text) => Ok(text.to_owned()),
        Err(error) => {
            let valid = &bytes[..error.valid_up_to()];
            // The prefix up to `valid_up_to` is valid UTF-8 by definition.
            let prefix = std::str::from_utf8(valid).unwrap_or_default();
            Err(Problem::at(
                path,
                Some(line_col(prefix, prefix.len())),
                "the file is not valid UTF-8 text; save it as UTF-8",
            ))
        }
    }
}

/// True when the text holds nothing but blank lines and comments.
pub fn is_blank(text: &str) -> bool {
    text.lines().all(|line| {
        let line = line.trim();
        line.is_empty() || line.starts_with('#')
    })
}

/// Deserialises the expanded text into a [`Scenario`].
pub fn deserialize(format: Format, source: &Source, path: &Path) -> Result<Scenario, Problem> {
    let mut scenario = deserialize_as_written(format, source, path)?;
    let block_time = scenario.chain.block_time.0;
    scenario.load.resolve_duration(block_time);
    Ok(scenario)
}

/// The scenario exactly as written (`load.blocks` still 0 when only `load.duration` is given).
fn deserialize_as_written(
    format: Format,
    source: &Source,
    path: &Path,
) -> Result<Scenario, Problem> {
    match format {
        Format::Yaml => serde_yaml_ng::from_str(&source.expanded).map_err(|error| {
            let place = error
                .location()
                .map(|location| source.place_of_expanded(location.index()));
            Problem::at(path, place, strip_yaml_marks(&error.to_string()))
        }),
        Format::Toml => toml::from_str(&source.expanded).map_err(|error| {
            let place = error
                .span()
                .map(|span| source.place_of_expanded(span.start));
            Problem::at(path, place, error.message().trim_end().to_owned())
        }),
    }
}

/// Removes ` at line L column C` and ` at position N` from a YAML message:
/// those count in the expanded text and the problem carries the real place.
fn strip_yaml_marks(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(at) = rest.find(" at ") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 4..];
        match mark_len(after) {
            Some(len) => rest = &after[len..],
            None => {
                out.push_str(" at ");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Length of `line L column C` or `position N` at the start of `text`.
fn mark_len(text: &str) -> Option<usize> {
    fn digits(text: &str) -> usize {
        text.bytes().take_while(u8::is_ascii_digit).count()
    }
    if let Some(rest) = text.strip_prefix("line ") {
        let line = digits(rest);
        let rest = rest[line..].strip_prefix(" column ")?;
        let column = digits(rest);
        (line > 0 && column > 0).then_some("line ".len() + line + " column ".len() + column)
    } else {
        let rest = text.strip_prefix("position ")?;
        let index = digits(rest);
        (index > 0).then_some("position ".len() + index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_follows_the_extension() {
        let cases = [
            ("a.yaml", Some(Format::Yaml)),
            ("dir/a.YML", Some(Format::Yaml)),
            ("a.toml", Some(Format::Toml)),
            ("a.json", None),
            ("yaml", None),
            ("a.", None),
        ];
        for (path, want) in cases {
            assert_eq!(Format::of(Path::new(path)), want, "{path}");
        }
    }

    #[test]
    fn strips_only_well_formed_marks() {
        let cases = [
            ("unknown field `x` at line 3 column 5", "unknown field `x`"),
            (
                "did not find expected key at line 2 column 1, while parsing a block mapping at line 1 column 1",
                "did not find expected key, while parsing a block mapping",
            ),
            ("bad at position 12", "bad"),
            ("look at me", "look at me"),
            ("at line x column 2", "at line x column 2"),
            ("x at line 3 column ", "x at line 3 column "),
        ];
        for (input, want) in cases {
            assert_eq!(strip_yaml_marks(input), want, "{input}");
        }
    }

    #[test]
    fn decode_refuses_bad_bytes_with_a_place() {
        let path = Path::new("s.yaml");
        assert_eq!(
            decode(path, b"\xEF\xBB\xBFname: x").as_deref(),
            Ok("name: x")
        );
        let problem = decode(path, b"a: 1\nb: \xFF\n").expect_err("invalid UTF-8");
        assert_eq!((problem.line, problem.column), (Some(2), Some(4)));
        let big = vec![b'#'; MAX_FILE_BYTES + 1];
        assert!(decode(path, &big)
            .expect_err("too big")
            .message
            .contains("at most"));
    }

    #[test]
    fn blank_means_only_comments_and_whitespace() {
        assert!(is_blank(""));
        assert!(is_blank("\n  \n# c\n   # d\n\t\n"));
        assert!(!is_blank("# c\nversion: 1\n"));
    }
}
