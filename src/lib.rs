//! Examples and benchmarks of the Recourse workspace live in `examples/` and `benches/`.
