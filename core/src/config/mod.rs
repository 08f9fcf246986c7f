//! Infra config: model and parser.
