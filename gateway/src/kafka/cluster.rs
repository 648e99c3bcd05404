//! cluster (filled in next).
