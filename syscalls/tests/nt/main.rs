//! Behaviour tests of the 64-bit NT model: 64-bit structures are written into a scratch
//! region above 4 GiB, a service is called, and the status and bytes written back are
//! checked.

mod common;
mod escape;
mod files;
mod fuzz;
mod info;
mod ob;
mod pe_images;
mod sections;
mod sync;
mod vm;
