//! PostgreSQL's binary value format, decoded for every built-in type Strata
//! reads (and the array types of them): malformed bytes are an error, never
//! a panic, a hang or an allocation out of proportion to the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strata_providers::postgres::decode_for_fuzzing::decode_value;

/// The type OIDs with a codec, scalars then arrays.
const OIDS: &[u32] = &[
    16, 17, 18, 19, 20, 21, 23, 25, 26, 114, 142, 700, 701, 705, 1042, 1043, 1082, 1083, 1114,
    1184, 1700, 2278, 2950, 3802, 1000, 1001, 1002, 1003, 1005, 1007, 1009, 1014, 1015, 1016,
    1021, 1022, 1028, 1115, 1182, 1183, 1185, 1231, 2951, 3807, 199, 143,
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, bytes)) = data.split_first() else {
        return;
    };
    let oid = OIDS[usize::from(selector) % OIDS.len()];
    let value = if selector == u8::MAX { None } else { Some(bytes) };
    let _ = decode_value(value, oid);
});
