//! One module per page.
pub mod about;
pub mod approvals;
pub mod audit;
pub mod dataset_version;
pub mod datasets;
pub mod endpoints;
pub mod experiments;
pub mod home;
pub mod jobs;
pub mod login;
pub mod models;
pub mod not_found;
pub mod projects;
pub mod settings;
pub mod training;
pub mod training_run;
pub mod validation;
