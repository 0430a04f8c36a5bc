//! The build script every Lambda function crate names (`build = "../build.rs"`).
//!
//! It links each function as a position-dependent executable (`-no-pie`),
//! so the dynamic loader has nothing to relocate at a cold start. As
//! position-independent executables, the functions applied 38,000 relative
//! relocations at every start, copy-on-write faulting in each of the 140
//! pages of `.data.rel.ro`: with all else equal, `ingest` took 506 page
//! faults instead of 385, and its init went from 1.74× to 1.34× hello-world
//! in `coldstart` (BENCHMARKS.md). Shared libraries, heap and stacks stay
//! randomized; only the executable's image has a fixed address, as in Go's
//! default Linux binaries. The local stack, which may serve a network for
//! as long as it runs, stays position-independent.
fn main() {
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
}
