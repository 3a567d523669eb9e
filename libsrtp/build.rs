//! Finds the system's libsrtp 2 with pkg-config and links it.

fn main() {
    pkg_config::Config::new().atleast_version("2.3").probe("libsrtp2").unwrap_or_else(|e| {
        panic!("libsrtp 2 not found by pkg-config ({e}); install it with: apt-get install libsrtp2-dev pkg-config")
    });
}
