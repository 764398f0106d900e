//! Link flags for the `pagefeed` binary.
//!
//! On Linux with glibc, relative relocations are packed (`DT_RELR`, glibc 2.36 and GNU ld
//! 2.38 or lld 15 on): the executable stays position-independent (its address is still
//! randomised), but its table of about 87,000 relative relocations shrinks from 2 MB to about
//! 33 KB, and the loader no longer reads those 2 MB at every start. Measured on a cold
//! `build` of a 10-entry page, each binary run three times after its file pages were dropped
//! from the page cache: peak RSS 17.5 MiB before, 15.7 MiB after. A linker that does not know
//! the flag warns and ignores it.

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os == "linux" && env == "gnu" {
        println!("cargo::rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}
