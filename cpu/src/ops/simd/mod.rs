//! MMX, SSE through SSE4.2, AES-NI and PCLMULQDQ (issue 3). Placeholder: registers
//! nothing yet.

use crate::table::Table;

pub fn register(_t: &mut Table) {}
