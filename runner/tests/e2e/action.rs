//! `action.yml`, the GitHub Action, checked as far as it can be without GitHub: it parses,
//! every input a step reads is declared, every `run` step names its shell, and every script
//! is valid bash once the expressions are filled in.

use std::collections::BTreeSet;

fn action() -> (String, serde_yaml_ng::Value) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../action.yml");
    let text = std::fs::read_to_string(path).unwrap();
    let yaml = serde_yaml_ng::from_str(&text).unwrap();
    (text, yaml)
}

/// Every `${{ … }}` replaced by a plain word, as GitHub would before bash sees the script.
fn filled(script: &str) -> String {
    let mut out = String::new();
    let mut rest = script;
    while let Some(start) = rest.find("${{") {
        out.push_str(&rest[..start]);
        let end = rest[start..]
            .find("}}")
            .expect("every expression is closed")
            + start
            + 2;
        out.push_str("value");
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

#[test]
fn the_action_declares_what_it_reads_and_its_scripts_are_valid_bash() {
    let (text, yaml) = action();
    let declared: BTreeSet<String> = yaml["inputs"]
        .as_mapping()
        .unwrap()
        .keys()
        .map(|k| k.as_str().unwrap().to_owned())
        .collect();
    for needed in [
        "scenario",
        "suite",
        "shard",
        "out",
        "repeat",
        "base-outcome",
    ] {
        assert!(declared.contains(needed), "input {needed}");
    }
    let read: BTreeSet<String> = text
        .split("inputs.")
        .skip(1)
        .map(|after| {
            after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                .collect()
        })
        .collect();
    let undeclared: Vec<&String> = read.difference(&declared).collect();
    assert!(
        undeclared.is_empty(),
        "read but not declared: {undeclared:?}"
    );

    assert_eq!(yaml["runs"]["using"].as_str(), Some("composite"));
    let steps = yaml["runs"]["steps"].as_sequence().unwrap();
    let mut scripts = 0;
    for step in steps {
        let Some(script) = step["run"].as_str() else {
            assert!(step["uses"].is_string(), "a step runs or uses: {step:?}");
            continue;
        };
        assert_eq!(step["shell"].as_str(), Some("bash"), "{step:?}");
        let checked = std::process::Command::new("bash")
            .args(["-n", "-c", &filled(script)])
            .output()
            .unwrap();
        assert!(
            checked.status.success(),
            "{}: {}",
            step["name"].as_str().unwrap_or("a step"),
            String::from_utf8_lossy(&checked.stderr)
        );
        scripts += 1;
    }
    assert!(scripts >= 5, "{scripts} scripts checked");
    // The suite mode runs `runner suite` with the shard, and the diff reads the suite directory.
    assert!(
        text.contains("runner suite ${{ inputs.suite }} --out"),
        "{text}"
    );
    assert!(text.contains("--shard ${{ inputs.shard }}"), "{text}");
}
