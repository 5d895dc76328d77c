//! sbom-lite's one error type: every message is one sentence naming what was wrong.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The source (image, archive, directory) could not be read as one.
    #[error("{0}")]
    Source(String),
    /// An SBOM, OSV record or option that does not parse.
    #[error("{0}")]
    Input(String),
    /// The registry refused or failed.
    #[error("{0}")]
    Registry(#[from] registry_client::Error),
    /// Writing output failed.
    #[error("{0}")]
    Output(String),
}

impl Error {
    pub(crate) fn io(what: impl std::fmt::Display, e: std::io::Error) -> Error {
        Error::Source(format!("cannot read {what}: {e}"))
    }
}
