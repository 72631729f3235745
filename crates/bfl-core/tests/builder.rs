#![allow(clippy::unwrap_used)]
//! What the client builder refuses, and that its errors never show a secret.

use bfl_core::BuildError;
use bfl_core::Client;

#[test]
fn a_base_url_with_a_password_is_refused_and_the_password_never_shown() {
    let err = Client::builder()
        .api_key("test-key-123456")
        .base_url("https://me:hunter2@api.bfl.ai/v1")
        .build()
        .unwrap_err();
    assert!(
        matches!(err, BuildError::CredentialsInBaseUrl(_)),
        "{err:?}"
    );
    for shown in [err.to_string(), format!("{err:?}")] {
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("https://***@api.bfl.ai/v1"), "{shown}");
    }
}

#[test]
fn a_base_url_that_is_not_http_is_refused_by_name() {
    let err = Client::builder()
        .api_key("test-key-123456")
        .base_url("ftp://api.bfl.ai")
        .build()
        .unwrap_err();
    assert!(
        matches!(err, BuildError::InvalidBaseUrl(ref u) if u == "ftp://api.bfl.ai"),
        "{err:?}"
    );
}
