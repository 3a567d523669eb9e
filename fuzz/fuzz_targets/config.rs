//! The configuration reader on arbitrary text: no panic, every refusal names
//! a field and says what is wrong, and a configuration that validates gives
//! the ng front-end its settings.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mediafwd_controlplane::config::Config;
use mediafwd_controlplane::ng;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let validated = match Config::parse(text).and_then(Config::validate) {
        Ok(v) => v,
        Err(e) => {
            assert!(!e.to_string().is_empty());
            return;
        }
    };
    let settings = ng::settings(&validated);
    assert_eq!(settings.interfaces.len(), validated.interfaces.len());
    for s in &validated.raw.static_sessions {
        for leg in &s.legs {
            let (_, iface) = validated.interface(&leg.interface).expect("validated: the interface exists");
            let remote = leg.remote.as_ref().map(|r| r.parse().expect("validated: the remote parses"));
            validated.leg_local_address(iface, leg, remote).expect("validated: the leg has a local address");
        }
    }
});
