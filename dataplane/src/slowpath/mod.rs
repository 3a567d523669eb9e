//! The slow path (being written).
