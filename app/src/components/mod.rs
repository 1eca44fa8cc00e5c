//! Building blocks shared by every page.
pub mod bars;
pub mod chart;
pub mod drift;
pub mod evaluation;
pub mod graph;
pub mod layout;
pub mod markdown;
pub mod page;
pub mod scatter;
