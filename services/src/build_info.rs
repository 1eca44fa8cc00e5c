//! The build facts `build.rs` recorded at compile time.

use domain::build::BuildInfo;

pub fn current() -> BuildInfo {
    BuildInfo {
        version: env!("CARGO_PKG_VERSION").to_string(),
        git_sha: env!("CAIRN_GIT_SHA").to_string(),
        profile: env!("CAIRN_PROFILE").to_string(),
        rustc: env!("CAIRN_RUSTC").to_string(),
    }
}
