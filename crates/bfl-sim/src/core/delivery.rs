//! The delivery host: signed result URLs that expire, serving real image bytes.

use super::bad_download::bad_download;
use super::{query_param, Sim};
use crate::exchange::{SimBody, SimRequest, SimResponse};
use crate::images::{fnv1a, ImageSpec};
use crate::stats::Outcome;
use bfl_core::api::OutputFormat;
use bytes::Bytes;

impl Sim {
    pub(super) fn sign(&self, id: &str, se: i64) -> String {
        format!(
            "{:016x}",
            fnv1a(&[&self.secret, id.as_bytes(), se.to_string().as_bytes()])
        )
    }

    pub(super) fn download(&mut self, now: f64, req: &SimRequest<'_>) -> SimResponse {
        let refuse = |code: &str, msg: &str| {
            SimResponse {
            status: 403,
            headers: vec![("content-type", "application/xml".into())],
            body: SimBody::Bytes(Bytes::from(format!(
                "<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>{code}</Code><Message>{msg}</Message></Error>"
            ))),
            delay: 0.0,
            hang: false,
        }
        };
        let not_found = || {
            SimResponse {
            status: 404,
            headers: vec![("content-type", "application/xml".into())],
            body: SimBody::Bytes(Bytes::from_static(
                b"<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>BlobNotFound</Code><Message>The specified blob does not exist.</Message></Error>",
            )),
            delay: 0.0,
            hang: false,
        }
        };
        let Some(rest) = req.path.strip_prefix("/results/") else {
            return not_found();
        };
        let id = rest.split('/').next().unwrap_or("");
        let Some(&index) = self.by_id.get(id) else {
            return not_found();
        };
        let se: Option<i64> = query_param(req.query, "se").and_then(|s| s.parse().ok());
        let sig = query_param(req.query, "sig");
        let Some(se) = se.filter(|se| sig == Some(self.sign(id, *se).as_str())) else {
            return refuse(
                "AuthenticationFailed",
                "Server failed to authenticate the request. Make sure the signature is formed correctly.",
            );
        };
        let now_unix = self.cfg.epoch_unix + now;
        let Some(task) = self.tasks.get_mut(index as usize) else {
            return not_found();
        };
        task.downloads += 1;
        if now_unix > se as f64 {
            if task.downloaded_at.is_none() {
                task.refused_expired = true;
            }
            self.counters.expired_downloads += 1;
            return refuse(
                "AuthenticationFailed",
                "Signed expiry time must be after signed start time: the URL has expired.",
            );
        }
        if task.outcome != Outcome::Ready || now < task.finished {
            return not_found();
        }
        let (width, height, format) = task.image;
        let tint = fnv1a(&[&task.seed.to_le_bytes(), task.prompt.as_bytes()]);
        let mime = match format {
            OutputFormat::Jpeg => "image/jpeg",
            OutputFormat::Png => "image/png",
            OutputFormat::Webp => "image/webp",
        };
        let image = ImageSpec {
            width,
            height,
            format,
            tint,
        };
        if let Some(bad) = bad_download(&task.prompt, task.downloads) {
            return bad.answer(image.bytes(), mime);
        }
        task.downloaded_at.get_or_insert(now);
        SimResponse {
            status: 200,
            headers: vec![("content-type", mime.into())],
            body: SimBody::Image(image),
            delay: 0.0,
            hang: false,
        }
    }
}
