//! hugepage-setup against a fake host tree: every command, through the library and the binary.

mod bind;
mod cli;
mod doctor;
mod mount;
mod persist;
mod reserve;
mod status;
mod tree;
mod vfs;
