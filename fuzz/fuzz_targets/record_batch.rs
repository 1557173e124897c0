//! Arbitrary bytes through the RecordBatch v2 view, batch iteration and the record timestamp
//! walk must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use weir_protocol::record_batch::{record_timestamps, BatchIter};

fuzz_target!(|data: &[u8]| {
    for batch in BatchIter::new(data) {
        let Ok(view) = batch else { break };
        let _ = view.verify_crc();
        let _ = record_timestamps(&view);
    }
});
