//! Integration tests live in tests/; this library holds the helpers several
//! test files share.

pub mod aws_tools;
pub mod config;
pub mod emulator;
pub mod tcp_proxy;
