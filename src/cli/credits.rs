//! `bfl credits`: the key's balance.

use super::connect::connect;
use super::output::{emit, fail, task_failed};
use super::{Global, EXIT_CONFIG};

/// Prints the balance.
pub(super) async fn run(global: &Global) -> u8 {
    let conn = match connect(global, None, None).await {
        Ok(c) => c,
        Err(e) => return fail(global, EXIT_CONFIG, &e.to_string()),
    };
    let code = match conn.client.credits().await {
        Ok(credits) if global.json => {
            emit(serde_json::json!({ "credits": credits }));
            0
        }
        Ok(credits) => {
            emit(format!("{credits} credits"));
            0
        }
        Err(e) => task_failed(global, &e),
    };
    conn.close().await;
    code
}
