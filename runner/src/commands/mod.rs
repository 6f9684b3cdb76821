//! What `runner` does besides one run of the pipeline, each built on it or on what it
//! writes: `--repeat` (the same run N times, combined), `search` (the capacity, by runs at
//! chosen loads), `diff` (two sets of outcomes compared for a pull request), `fixture`
//! (a fork's contracts recorded for offline runs) and `suite` (many scenarios, one verdict).

pub mod diff;
pub mod fixture;
pub mod repeat;
pub mod search;
pub mod suite;
