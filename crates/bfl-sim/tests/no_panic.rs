#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::field_reassign_with_default
)]
//! No input makes the core panic, whatever the path, query, key, body or time.

use bfl_sim::{Hosts, Role, Sim, SimConfig, SimRequest};
use proptest::prelude::*;

fn role() -> impl Strategy<Value = Role> {
    prop_oneof![
        Just(Role::Api),
        Just(Role::Regional),
        Just(Role::Delivery),
        Just(Role::Hostile)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn core_never_panics(
        role in role(),
        post in any::<bool>(),
        path in prop_oneof![
            Just("/v1/flux-2-pro".to_owned()),
            Just("/v1/flux-pro-1.1".to_owned()),
            Just("/v1/get_result".to_owned()),
            Just("/v1/credits".to_owned()),
            "/results/[a-z0-9-]{0,40}/sample\\.(jpeg|png|webp)",
            "/[ -~]{0,30}",
        ],
        query in proptest::option::of("[ -~]{0,60}"),
        key in proptest::option::of("[ -~]{0,10}"),
        body in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..64),
            Just(br#"{"prompt": "x", "width": 1e308, "height": -1, "seed": 1.5, "output_format": "gif"}"#.to_vec()),
            Just(br#"{"prompt": "x", "width": 18446744073709551615, "aspect_ratio": "0:0"}"#.to_vec()),
            Just(br#"{"prompt": "x", "aspect_ratio": "99999999:1", "output_format": "webp"}"#.to_vec()),
        ],
        now in prop_oneof![Just(0.0), 0.0..1e7f64],
    ) {
        let mut cfg = SimConfig::default();
        cfg.credits = Some(10.0);
        cfg.faults.truncated.poll = 0.5;
        let mut sim = Sim::new(cfg, Hosts::virtual_names());
        let req = SimRequest {
            role,
            method: if post { "POST" } else { "GET" },
            path: &path,
            query: query.as_deref(),
            key: key.as_deref(),
            body: &body,
        };
        let first = sim.handle(now, &req);
        let _ = first.into_http();
        // And again later, when the task (if any) is done.
        let _ = sim.handle(now + 100.0, &req).into_http();
        let _ = sim.stats(now + 200.0);
    }
}
