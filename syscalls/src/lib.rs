//! The 64-bit NT model.
