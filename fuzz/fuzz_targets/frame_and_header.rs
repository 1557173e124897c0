//! Arbitrary bytes through framing and request-header decoding must never panic or allocate
//! from an untrusted size.
#![no_main]

use libfuzzer_sys::fuzz_target;
use weir_protocol::frame::{check_frame, SIZE_PREFIX_LEN};
use weir_protocol::request::decode_request;

fuzz_target!(|data: &[u8]| {
    if let Ok(Some(len)) = check_frame(data, 1 << 20) {
        let frame = bytes::Bytes::copy_from_slice(&data[SIZE_PREFIX_LEN..SIZE_PREFIX_LEN + len]);
        let _ = decode_request(frame);
    }
});
