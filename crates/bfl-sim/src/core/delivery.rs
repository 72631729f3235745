//! The delivery host: signed result URLs that expire, serving real image bytes.

use super::bad_download::bad_download;
use super::{blob, query_param, Sim};
use crate::exchange::{SimBody, SimRequest, SimResponse};
use crate::images::{fnv1a, ImageSpec};
use crate::stats::Outcome;
use bfl_core::api::OutputFormat;

impl Sim {
    pub(super) fn sign(&self, id: &str, se: i64) -> String {
        format!(
            "{:016x}",
            fnv1a(&[&self.secret, id.as_bytes(), se.to_string().as_bytes()])
        )
    }

    pub(super) fn download(&mut self, now: f64, req: &SimRequest<'_>) -> SimResponse {
        let Some(rest) = req.path.strip_prefix("/results/") else {
            return blob::not_found();
        };
        let id = rest.split('/').next().unwrap_or("");
        let Some(&index) = self.by_id.get(id) else {
            return blob::not_found();
        };
        let se: Option<i64> = query_param(req.query, "se").and_then(|s| s.parse().ok());
        let sig = query_param(req.query, "sig");
        let Some(se) = se.filter(|se| sig == Some(self.sign(id, *se).as_str())) else {
            return blob::bad_signature();
        };
        let now_unix = self.cfg.epoch_unix + now;
        let Some(task) = self.tasks.get_mut(index as usize) else {
            return blob::not_found();
        };
        task.downloads += 1;
        if now_unix > se as f64 {
            if task.downloaded_at.is_none() {
                task.refused_expired = true;
            }
            self.counters.expired_downloads += 1;
            let start = self.cfg.epoch_unix + task.finished;
            return blob::expired(start, se as f64, now_unix);
        }
        if task.outcome != Outcome::Ready || now < task.finished {
            return blob::not_found();
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
