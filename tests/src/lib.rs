//! Test harness: starts real brokers and the gateway for the end-to-end tests.
