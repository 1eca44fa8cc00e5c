//! Building blocks shared by every page.
pub mod bars;
pub mod chart;
pub mod evaluation;
pub mod layout;
pub mod page;
pub mod scatter;
