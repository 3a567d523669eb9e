//! Traffic generation and benchmark harness for mediafwd.
