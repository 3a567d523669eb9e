//! The bencode decoder on arbitrary bytes: no panic; what it accepts
//! encodes to the canonical form, which decodes to the same value and
//! encodes to itself; a prefix decode takes no more than the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mediafwd_bencode as bencode;

fuzz_target!(|data: &[u8]| {
    if let Ok((v, used)) = bencode::decode_prefix(data) {
        assert!(used > 0 && used <= data.len());
        assert_eq!(bencode::decode(&data[..used]).as_ref(), Ok(&v));
    }
    let Ok(v) = bencode::decode(data) else { return };
    let canonical = v.encode();
    let again = bencode::decode(&canonical).expect("the canonical form decodes");
    assert_eq!(again, v);
    assert_eq!(again.encode(), canonical);
    // Accessors and the text form of any value.
    let _ = (v.as_bytes(), v.as_str(), v.as_int(), v.as_list(), v.as_dict(), v.to_string());
});
