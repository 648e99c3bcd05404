//! error (filled in next).
