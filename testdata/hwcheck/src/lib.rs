//! Hardware comparison harness (see README).
