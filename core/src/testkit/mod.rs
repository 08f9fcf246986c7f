//! The conformance suite (feature `testkit`).
//!
//! One public async function per behaviour, driven through a harness trait per
//! building block that a provider implements to make fresh resources. Each case
//! is gated by the provider's declared capabilities, and negative cases check
//! that a provider does not claim what it lacks.
//!
//! Each block's cases are listed once, in a table macro:
//! [`pubsub_conformance!`](crate::pubsub_conformance),
//! [`objects_conformance!`](crate::objects_conformance),
//! [`cache_conformance!`](crate::cache_conformance) and
//! [`sqldb_conformance!`](crate::sqldb_conformance). A provider's test file
//! implements the harness and invokes the macro once per harness: it expands to
//! one test per case of the table, named after the case. A harness skips a case
//! only by naming it with a reason; the test is then still compiled, and
//! `cargo test` lists it as ignored with that reason. A skip that names no case
//! of the table, or names one twice, does not compile. The same table makes
//! each block's `run_all` and `CASES`, and a test of this module checks that
//! every public case function of a block is in its table.
//!
//! ```no_run
//! # use std::sync::Arc;
//! # use strata_core::objects::{Bucket, BucketDriver};
//! # use strata_core::testkit::objects::ObjectsHarness;
//! # fn driver() -> Arc<dyn BucketDriver> { unimplemented!() }
//! struct MyHarness;
//!
//! #[async_trait::async_trait]
//! impl ObjectsHarness for MyHarness {
//!     async fn bucket(&self) -> Bucket {
//!         Bucket::new("b", driver())
//!     }
//! }
//!
//! strata_core::objects_conformance! {
//!     // The attributes of every generated test.
//!     #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
//!     // Made afresh in each test; may `.await`.
//!     harness: MyHarness,
//!     // Optional: wraps each case's future (a timeout, say).
//!     run: |case| async { tokio::time::timeout(std::time::Duration::from_secs(60), case).await.unwrap() },
//!     // Cases this provider does not run, each with why.
//!     skip: {
//!         url_capabilities_are_honest: "this store has no URLs of any kind",
//!     },
//! }
//! ```
//!
//! A skip must name a case of the table:
//!
//! ```compile_fail
//! # use std::sync::Arc;
//! # use strata_core::objects::{Bucket, BucketDriver};
//! # use strata_core::testkit::objects::ObjectsHarness;
//! # fn driver() -> Arc<dyn BucketDriver> { unimplemented!() }
//! # struct MyHarness;
//! # #[async_trait::async_trait]
//! # impl ObjectsHarness for MyHarness {
//! #     async fn bucket(&self) -> Bucket {
//! #         Bucket::new("b", driver())
//! #     }
//! # }
//! strata_core::objects_conformance! {
//!     #[tokio::test]
//!     harness: MyHarness,
//!     skip: { no_such_case: "does not compile" },
//! }
//! ```
//!
//! and name it once:
//!
//! ```compile_fail
//! # use std::sync::Arc;
//! # use strata_core::objects::{Bucket, BucketDriver};
//! # use strata_core::testkit::objects::ObjectsHarness;
//! # fn driver() -> Arc<dyn BucketDriver> { unimplemented!() }
//! # struct MyHarness;
//! # #[async_trait::async_trait]
//! # impl ObjectsHarness for MyHarness {
//! #     async fn bucket(&self) -> Bucket {
//! #         Bucket::new("b", driver())
//! #     }
//! # }
//! strata_core::objects_conformance! {
//!     #[tokio::test]
//!     harness: MyHarness,
//!     skip: { copy_object: "one reason", copy_object: "another" },
//! }
//! ```

pub mod cache;
pub mod objects;
pub mod pubsub;
pub mod sqldb;

/// Expands a block's case table (`[$($case),*]`, from the block's table
/// macro) into one test per case for one harness. Not for direct use: invoke
/// the block's table macro. `$d` is a `$` token, for the inner macros.
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_tests {
    (
        ($d:tt) [$($case:ident),* $(,)?] $block:ident
        $(#[$attr:meta])*
        harness: $harness:expr,
        $(run: $run:expr,)?
        skip: { $($skip:ident: $reason:literal),* $(,)? } $(,)?
    ) => {
        $crate::__conformance_tests! {
            @expand ($d) [$($case),*] $block
            [$(#[$attr])*]
            ($harness)
            ($($run)?)
            { $($skip: $reason),* }
        }
    };
    (
        @expand ($d:tt) [$($case:ident),*] $block:ident
        $attrs:tt $harness:tt $run:tt
        { $($skip:ident: $reason:literal),* }
    ) => {
        // A skip names a case of the table...
        macro_rules! __conformance_case_exists {
            $( ($case) => {}; )*
            ($d other:ident) => {
                ::core::compile_error!(::core::concat!(
                    "`", ::core::stringify!($d other), "` is not a ",
                    ::core::stringify!($block), " conformance case, so it cannot be skipped"
                ));
            };
        }
        $( __conformance_case_exists!($skip); )*
        // ...once (a second skip of one case is a second variant of one name).
        const _: () = {
            #[allow(dead_code, non_camel_case_types, clippy::enum_variant_names)]
            enum Skipped { $($skip,)* }
        };
        // Every case of the table becomes a test: ignored, with its reason,
        // when skipped.
        macro_rules! __conformance_case {
            $(
                ($skip $d($d rest:tt)*) => {
                    $crate::__conformance_tests! { @test [ignore = $reason] $skip $d($d rest)* }
                };
            )*
            ($d case:ident $d($d rest:tt)*) => {
                $crate::__conformance_tests! { @test [] $d case $d($d rest)* }
            };
        }
        $( __conformance_case!($case $block $attrs $harness $run); )*
    };
    (
        @test [$($ignore:meta)?] $case:ident $block:ident
        [$(#[$attr:meta])*] ($harness:expr) ($($run:expr)?)
    ) => {
        $(#[$attr])*
        $(#[$ignore])?
        async fn $case() {
            let case = async {
                let harness = $harness;
                $crate::testkit::$block::$case(&harness).await;
            };
            $crate::__conformance_tests!(@run ($($run)?) case).await;
        }
    };
    (@run () $case:ident) => { $case };
    (@run ($run:expr) $case:ident) => { ($run)($case) };
}

/// Makes a block's `CASES` and `run_all` from its table.
macro_rules! case_list {
    (($d:tt) [$($case:ident),* $(,)?] $harness:ident) => {
        /// The names of this block's cases, in the order [`run_all`] runs them.
        pub const CASES: &[&str] = &[$(::core::stringify!($case)),*];

        /// Runs every case of the table, in order, on one harness.
        pub async fn run_all(h: &impl $harness) {
            $( $case(h).await; )*
        }
    };
}
pub(crate) use case_list;

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;

    /// The names of the public case functions of a block: every
    /// `pub async fn NAME(h: &impl HARNESS)` in `src/testkit/BLOCK.rs` and
    /// `src/testkit/BLOCK/*.rs`, but `run_all`.
    fn case_functions(block: &str, harness: &str) -> BTreeSet<String> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/testkit");
        let mut files = vec![root.join(format!("{block}.rs"))];
        for entry in std::fs::read_dir(root.join(block)).expect("the block's folder") {
            let path = entry.expect("a folder entry").path();
            if path.extension().is_some_and(|ext| ext == "rs") {
                files.push(path);
            }
        }
        let argument = format!("&impl {harness}");
        let mut names = BTreeSet::new();
        for file in files {
            let source = std::fs::read_to_string(&file).expect("a source file");
            for (at, found) in source.match_indices("pub async fn ") {
                let rest = &source[at + found.len()..];
                let (name, rest) = rest.split_once('(').expect("a parameter list");
                let (parameters, _) = rest.split_once(')').expect("a parameter list");
                if parameters.contains(&argument) && name != "run_all" {
                    names.insert(name.trim().to_owned());
                }
            }
        }
        names
    }

    fn assert_table(block: &str, harness: &str, table: &[&str]) {
        let functions = case_functions(block, harness);
        let listed: BTreeSet<String> = table.iter().map(|&s| s.to_owned()).collect();
        assert_eq!(
            listed.len(),
            table.len(),
            "the {block} table lists a case twice"
        );
        let missing: Vec<_> = functions.difference(&listed).collect();
        assert!(
            missing.is_empty(),
            "{block} cases missing from the {block} table, so no harness runs them: {missing:?}"
        );
        let unknown: Vec<_> = listed.difference(&functions).collect();
        assert!(
            unknown.is_empty(),
            "the {block} table lists what is not a case function: {unknown:?}"
        );
    }

    #[test]
    fn every_pubsub_case_is_in_the_table() {
        assert_table("pubsub", "PubSubHarness", super::pubsub::CASES);
    }

    #[test]
    fn every_objects_case_is_in_the_table() {
        assert_table("objects", "ObjectsHarness", super::objects::CASES);
    }

    #[test]
    fn every_cache_case_is_in_the_table() {
        assert_table("cache", "CacheHarness", super::cache::CASES);
    }

    #[test]
    fn every_sqldb_case_is_in_the_table() {
        assert_table("sqldb", "DatabaseHarness", super::sqldb::CASES);
    }
}
