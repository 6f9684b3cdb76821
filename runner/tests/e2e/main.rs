//! End-to-end tests: the real runner binary against a real Anvil holding the
//! replayed CoW contracts, the in-process mock and the reference engine.

mod accounting;
mod action;
mod builder;
mod common;
mod diff;
mod exact_load;
mod faults;
mod field;
mod fixtures;
mod fork;
mod known_answer;
mod lifecycle;
mod lost_reasons;
mod mutants;
mod own_repo;
mod owners;
mod repeat;
mod search;
mod shipped;
mod soak;
mod suite;
mod validate;
mod verdicts;
