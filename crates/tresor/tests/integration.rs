//! End-to-end tests of the `tresor` binary: round trips, bad input, damage
//! and crashes, as a user meets them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod integration {
    mod apps;
    mod buildbot;
    pub mod cli;
    mod copy;
    mod cross_engine;
    mod cross_values;
    pub mod disasters;
    mod drill;
    pub mod faults;
    mod generative;
    mod generative_cross;
    mod golden;
    mod majors;
    mod mlflow;
    pub mod network_faults;
    mod offsite;
    mod output;
    pub mod rows;
    mod seeds;
    mod storage;
    pub mod support;
    mod synapse;
    mod typeorm;
    mod wagtail;
}
