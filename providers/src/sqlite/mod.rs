//! SQLite databases (the embedded default).
