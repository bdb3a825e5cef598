//! x87 extended-precision arithmetic.
