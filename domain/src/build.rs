//! What build of Cairn is running: shown on the About page and by `cairn status`.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BuildInfo {
    pub version: String,
    /// Short git commit the binary was built from, or "unknown" outside a checkout.
    pub git_sha: String,
    /// "debug" or "release".
    pub profile: String,
    pub rustc: String,
}
