//! Config (filled in next).
