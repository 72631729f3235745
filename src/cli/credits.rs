//! `bfl credits`: the key's balance.

use super::connect::connected;
use super::output::{emit, task_failed};
use super::Global;

/// Prints the balance.
pub(super) async fn run(global: &Global) -> u8 {
    connected(global, None, None, async |conn| {
        match conn.client.credits().await {
            Ok(credits) if global.json => {
                emit(serde_json::json!({ "credits": credits }));
                0
            }
            Ok(credits) => {
                emit(format!("{credits} credits"));
                0
            }
            Err(e) => task_failed(global, &e),
        }
    })
    .await
    .unwrap_or_else(|code| code)
}
