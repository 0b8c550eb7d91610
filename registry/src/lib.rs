//! Heph's connector registry: the package format ([`package`]), publisher keys ([`keys`]),
//! what a package asks for ([`capabilities`]), the registry server ([`server`]) and the client
//! hosts and partners use to reach it ([`client`]).

pub mod capabilities;
pub mod client;
pub mod keys;
pub mod package;
pub mod server;

pub use capabilities::{is_name, Capabilities};
pub use client::RegistryClient;
pub use keys::{PublicKey, SecretKey};
pub use package::{Contents, Package, PackageError};
