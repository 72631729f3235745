//! What each answer does to a task: the [`Decision`] of [`classify`], acted on.

use super::classify::{classify, terminal_error, Answer, Decision, Retry, Sent};
use super::core::Core;
use super::event::TaskEvent;
use super::job::StopAfter;
use super::{done, fail, request, Next, State};
use crate::api::{GenerationResult, PollResponse, Status, SubmitResponse};
use crate::error::{Phase, TaskError};
use crate::rt::Now;
use crate::strategy::TaskObservation;
use crate::task::{Finished, ReadyTask, SubmittedTask, TaskOutput};
use bytes::Bytes;
use http::Response;
use std::time::Duration;

impl Core {
    /// Classifies an answer and does the bookkeeping every decision shares.
    fn decide(&mut self, sent: Sent<'_>, resp: Response<Bytes>, now: Now) -> Decision {
        let decision = classify(sent, resp, now);
        if decision.is_api_success() {
            self.answered();
        }
        decision
    }

    /// A retry if the caps allow one, else the error the retried answers add up to.
    fn retry_or_fail(
        &mut self,
        now: Now,
        phase: Phase,
        task: Option<&SubmittedTask>,
        r: Retry,
    ) -> Next {
        if let Some(status) = r.status_seen() {
            self.report.last_status = Some(status.as_str().to_owned());
        }
        let again = match &r {
            Retry::Throttled { .. } => self.throttled(now, phase, r.retry_after()),
            Retry::Fault { .. } => self.try_retry(now, r.retry_after(), phase, r.reason()),
        };
        if again {
            return Next::Stay;
        }
        let attempts = match r {
            Retry::Throttled { .. } => self.rate_limited,
            Retry::Fault { .. } => self.failures,
        };
        fail(r.into_error(task.cloned(), phase, attempts))
    }

    pub(super) fn on_submit_answer(&mut self, now: Now, resp: Response<Bytes>) -> Next {
        match self.decide(Sent::Submit, resp, now) {
            Decision::Proceed(Answer::Submitted(parsed)) => {
                Next::Go(self.on_submitted(now, parsed))
            }
            Decision::Proceed(Answer::Unreadable(e)) | Decision::Forbid(e) => fail(e),
            Decision::Retry(r) => self.retry_or_fail(now, Phase::Submit, None, r),
            // `classify` answers a submit with `Submitted` or `Unreadable` only. Anything else is
            // a 2xx not understood: the task may exist, so it ends here, ambiguous — never a
            // second submit.
            Decision::Proceed(other) => fail(TaskError::malformed(
                None,
                Phase::Submit,
                format!("unexpected {other:?}"),
                Bytes::new(),
            )),
        }
    }

    fn on_submitted(&mut self, now: Now, parsed: SubmitResponse) -> State {
        let polling_url = parsed
            .polling_url
            // The webhook form carries no polling URL; the id still polls at the API host.
            .unwrap_or_else(|| self.cfg.polling_url_by_id(&parsed.id));
        let task = SubmittedTask {
            id: parsed.id,
            polling_url,
            model: self.report.model.clone(),
            cost: parsed.cost,
        };
        self.submitted_at = now.instant;
        self.submitted_wall = now.wall;
        self.saw_submit = true;
        // Paid now: the task gets its whole deadline to be polled and downloaded, however long
        // the submit took to be accepted (429s, a slow key) — it is never abandoned for that.
        self.deadline_at = self.deadline_at.max(now.instant + self.cfg.deadline);
        // The task is paid for: whatever its polling URL, it is recorded and polled.
        let submitted = match request::admit_polling_url(&self.cfg, task) {
            Ok(task) => task,
            Err(e) => return State::Finished(Err(e)),
        };
        self.events
            .push_back(TaskEvent::Submitted(submitted.clone()));
        if self.stop_after == StopAfter::Submitted {
            return State::Finished(Ok(Finished::Submitted(submitted)));
        }
        self.polling(now, submitted)
    }

    /// Polling `task` from now, unless the strategy gives up before its first poll.
    pub(super) fn polling(&mut self, now: Now, task: SubmittedTask) -> State {
        match self.schedule_poll(now) {
            Some(_) => State::Poll(task),
            None => State::Finished(Err(TaskError::gave_up(task, self.report.polls))),
        }
    }

    pub(super) fn on_poll_answer(
        &mut self,
        now: Now,
        task: &SubmittedTask,
        resp: Response<Bytes>,
    ) -> Next {
        let in_grace =
            now.instant.saturating_duration_since(self.submitted_at) < self.cfg.not_found_grace;
        let sent = Sent::Poll { task, in_grace };
        match self.decide(sent, resp, now) {
            Decision::Proceed(Answer::Ready {
                result,
                sample_url,
                progress,
            }) => self.on_ready(now, task, result, sample_url, progress),
            Decision::Proceed(Answer::Polled { parsed, raw }) => {
                self.on_polled(now, task, parsed, raw)
            }
            Decision::Proceed(Answer::NotYetVisible(said)) => {
                if let Some(status) = said {
                    self.report.last_status = Some(status.as_str().to_owned());
                }
                let next = self.after_pending_poll(now, Status::Pending, None, false);
                self.poll_or_give_up(task, next)
            }
            Decision::Forbid(e) => fail(e),
            Decision::Retry(r) => self.retry_or_fail(now, Phase::Poll, Some(task), r),
            // `classify` answers a poll with `Ready`, `Polled` or `NotYetVisible` only.
            Decision::Proceed(other) => fail(TaskError::unexpected(Phase::Poll, other)),
        }
    }

    /// A poll answer with any status but `Ready`.
    fn on_polled(
        &mut self,
        now: Now,
        task: &SubmittedTask,
        parsed: PollResponse,
        raw: Bytes,
    ) -> Next {
        self.report.last_status = Some(parsed.status.as_str().to_owned());
        if matches!(parsed.status, Status::Pending | Status::Unknown(_)) {
            let next = self.after_pending_poll(now, parsed.status, parsed.progress, true);
            return self.poll_or_give_up(task, next);
        }
        let terminal = parsed.status.clone();
        self.last_status = Some(terminal.clone());
        self.events.push_back(TaskEvent::Polled {
            status: terminal.clone(),
            progress: parsed.progress,
            next_in: None,
        });
        self.events.push_back(TaskEvent::Terminal(terminal));
        fail(terminal_error(task.clone(), parsed, raw))
    }

    /// After scheduling: keep polling, unless the strategy or the poll cap said stop.
    fn poll_or_give_up(&mut self, task: &SubmittedTask, next: Option<Duration>) -> Next {
        match next {
            Some(_) => Next::Stay,
            None => fail(TaskError::gave_up(task.clone(), self.report.polls)),
        }
    }

    fn on_ready(
        &mut self,
        now: Now,
        task: &SubmittedTask,
        result: GenerationResult,
        sample_url: String,
        progress: Option<f64>,
    ) -> Next {
        self.report.last_status = Some(Status::Ready.as_str().to_owned());
        let since_submit = now.instant.saturating_duration_since(self.submitted_at);
        self.report.time_to_ready = Some(since_submit);
        self.last_status = Some(Status::Ready);
        self.events.push_back(TaskEvent::Polled {
            status: Status::Ready,
            progress,
            next_in: None,
        });
        self.events.push_back(TaskEvent::Terminal(Status::Ready));
        // The URL dies `lifetime` after end_time; without end_time, count from this first sight.
        let lifetime = self.cfg.result_url_lifetime.as_secs_f64();
        let seen = now.unix_secs() + lifetime;
        let expires_at = result
            .end_time
            .map_or(seen, |end| (end + lifetime).min(seen));
        if self.saw_submit {
            self.observation = Some(Box::new(self.observe(now, since_submit, &result)));
        }
        let ready = ReadyTask {
            task: task.clone(),
            result,
            sample_url,
            expires_at,
        };
        if self.stop_after == StopAfter::Ready {
            return done(Finished::Ready(ready));
        }
        self.next_send_at = now.instant;
        Next::Go(State::Download(ready))
    }

    /// What a learning strategy may learn from a task that reached `Ready`.
    fn observe(
        &self,
        now: Now,
        since_submit: Duration,
        result: &GenerationResult,
    ) -> TaskObservation {
        let submit_unix = Now {
            instant: now.instant,
            wall: self.submitted_wall,
        }
        .unix_secs();
        TaskObservation {
            model: self.report.model.clone(),
            last_pending_after: self.last_pending_after,
            ready_seen_after: since_submit,
            server_ready_after: result
                .end_time
                .and_then(|end| Duration::try_from_secs_f64(end - submit_unix).ok()),
            server_duration: result
                .duration
                .and_then(|d| Duration::try_from_secs_f64(d).ok()),
        }
    }

    pub(super) fn on_download_answer(
        &mut self,
        now: Now,
        ready: &ReadyTask,
        resp: Response<Bytes>,
    ) -> Next {
        let sent = Sent::Download {
            task: &ready.task,
            expires_at: ready.expires_at,
        };
        match self.decide(sent, resp, now) {
            Decision::Proceed(Answer::Image { image, format }) => {
                if let (Some(got), Some(asked)) = (format, self.expected_format) {
                    if got != asked {
                        tracing::info!(id = %ready.task.id, %asked, %got, "the image is not in the requested format; kept as delivered");
                    }
                }
                let output = TaskOutput {
                    ready: ready.clone(),
                    image,
                };
                done(Finished::Downloaded(output))
            }
            Decision::Forbid(e) => fail(e),
            Decision::Retry(r) => self.retry_or_fail(now, Phase::Download, Some(&ready.task), r),
            // `classify` answers a download with `Image` only.
            Decision::Proceed(other) => fail(TaskError::unexpected(Phase::Download, other)),
        }
    }
}
