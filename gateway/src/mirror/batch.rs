//! Record batch handling (filled in next).
