//! Record batches (magic v2) as the data plane handles them: [`batch`]
//! parses, filters (read_committed), normalises and rewrites them without
//! decompressing; [`decompress`] bounds decompression where records must be
//! read.

pub mod batch;
pub mod decompress;
