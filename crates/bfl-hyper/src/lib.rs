//! The real transport for bfl (hyper + rustls) and the tokio runtime adapter.
