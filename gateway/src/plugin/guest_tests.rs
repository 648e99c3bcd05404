//! Tests that load the real guest plugins (filled in below).
