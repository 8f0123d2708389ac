//! Placeholder for ca-core's general benchmarks.
fn main() {}
