//! The command line's behaviour, through the real `cuttle` binary: one test binary, so that it is
//! linked once and its tests, whatever file they are in, share the cores as they become free.
//! Each module is one area of the product; [`common`] is the test world they all use.

#[macro_use]
mod common;

mod archive;
mod concurrency;
mod crash;
mod documents;
mod export;
mod hostile;
mod import;
mod instances;
mod migrations;
mod plan_secrets;
mod resources;
mod sample;
mod server;
mod upgrade;
mod wizard;
