//! The conformance suites as one `#[tokio::test]` per case, for an AWS
//! emulator: `aws_conformance!(EMULATOR);` in a test file that has the
//! `aws_harness` module. The cases come from the tables in
//! `strata_core::testkit`; the emulator's gaps are capability overrides on
//! its `Emulator` constant, or a named skip here.

/// Expands to `mod pubsub` and `mod objects`, one test per case of the
/// tables, each on a fresh harness for `$emulator` (an `aws_harness::Emulator`
/// constant).
macro_rules! aws_conformance {
    ($emulator:ident) => {
        mod pubsub {
            use super::aws_harness::AwsPubSubHarness;

            strata_core::pubsub_conformance! {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                harness: AwsPubSubHarness::new(&super::$emulator).await,
                skip: {},
            }
        }

        mod objects {
            use super::aws_harness::AwsObjectsHarness;

            strata_core::objects_conformance! {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                harness: AwsObjectsHarness::new(&super::$emulator).await,
                skip: {},
            }
        }
    };
}
