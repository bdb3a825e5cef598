//! The x87 FPU instructions (issue 3). Placeholder: registers nothing yet.

use crate::table::Table;

pub fn register(_t: &mut Table) {}
