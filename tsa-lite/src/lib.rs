//! tsa-lite: an RFC 3161 timestamp authority, compatible with sigstore/timestamp-authority.
//!
//! - [`authority`]: the keys and certificates (a root and a TSA leaf whose only extended key usage
//!   is timeStamping, critical) and the pure mapping from a request and a time to a response.
//! - [`api`]: `POST /api/v1/timestamp` (DER `application/timestamp-query`, or JSON) and
//!   `GET /api/v1/timestamp/certchain`; [`error`]: the one error type and its HTTP mapping.
//!
//! Not implemented: KMS/Tink signers, other policies than Sigstore's, request extensions. It
//! has not been audited.

pub mod api;
pub mod authority;
pub mod cli;
pub mod error;
pub mod refusal;

use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

pub use error::Error;

/// Opens (creating on first start) the authority in `dir`, with the system clock.
pub fn open(dir: &Path) -> Result<Arc<api::Tsa>, Error> {
    open_with(dir, &authority::TsaKeys::default())
}

/// [`open`] with the signing key where `keys` says (a file, a PKCS#11 token or a KMS plugin).
pub fn open_with(dir: &Path, keys: &authority::TsaKeys) -> Result<Arc<api::Tsa>, Error> {
    let a = authority::Authority::open(dir, keys, SystemTime::now())?;
    Ok(api::Tsa::new(a, Box::new(SystemTime::now)))
}

/// Serves on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    t: Arc<api::Tsa>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_on(listener, t, None, shutdown).await
}

/// [`serve`], over HTTPS when `tls` is given.
pub async fn serve_on(
    listener: tokio::net::TcpListener,
    t: Arc<api::Tsa>,
    tls: Option<sigstore_lite_server::tls::Config>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    sigstore_lite_server::tls::serve_maybe(listener, api::app(t), tls, shutdown).await
}
