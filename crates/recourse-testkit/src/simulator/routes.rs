//! The simulator's routes and per-server state.

use std::collections::HashMap;
use std::time::Duration;

use http::Method;

use super::cached::cached;
use super::*;
use crate::{Recorded, Reply};

#[derive(Debug, Default)]
pub(crate) struct SimState {
    created: u64,
    jobs: HashMap<u64, Job>,
    next_job: u64,
    pub(crate) cached_version: u64,
    counters: HashMap<&'static str, u64>,
}

#[derive(Debug)]
struct Job {
    pending: u64,
    outcome: Outcome,
    retry_after: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Succeeded,
    SeeOther,
    Failed,
}

impl SimState {
    /// Counts a request to `path`; returns how many came before it.
    fn bump(&mut self, path: &'static str) -> u64 {
        let counter = self.counters.entry(path).or_default();
        let before = *counter;
        *counter += 1;
        before
    }
}

// === replies ===

pub(crate) fn json(status: u16, body: impl Into<bytes::Bytes>) -> Reply {
    Reply::status(status)
        .header("content-type", "application/json")
        .body(body)
}

pub(crate) fn not_allowed(allow: &str) -> Reply {
    json(405, METHOD_NOT_ALLOWED_BODY).header("allow", allow)
}

fn not_found() -> Reply {
    json(404, NOT_FOUND_BODY)
}

fn redirect(status: u16) -> Reply {
    Reply::status(status).header("location", "/barcode/new")
}

pub(crate) fn is_get(req: &Recorded) -> bool {
    req.method == Method::GET || req.method == Method::HEAD
}

/// Reads an integer query parameter in `0..=max`, or the 400 reply for a bad value.
fn param(req: &Recorded, name: &str, default: u64, max: u64) -> Result<u64, Box<Reply>> {
    match req.query_param(name) {
        None => Ok(default),
        Some(raw) => match raw.parse::<u64>() {
            Ok(value) if value <= max => Ok(value),
            _ => Err(Box::new(json(
                400,
                invalid_param_body(name, &format!("an integer in 0..={max}")),
            ))),
        },
    }
}

pub(crate) fn route(state: &mut SimState, req: &Recorded) -> Reply {
    match route_inner(state, req) {
        Ok(reply) => reply,
        Err(reply) => *reply,
    }
}

fn route_inner(state: &mut SimState, req: &Recorded) -> Result<Reply, Box<Reply>> {
    let method = &req.method;
    let reply = match req.path.as_str() {
        "/barcode/ok" | "/barcode/app-error" => {
            if !is_get(req) && *method != Method::POST {
                return Ok(not_allowed("GET, HEAD, POST"));
            }
            if req.path == "/barcode/ok" {
                json(200, OK_BODY)
            } else {
                json(200, APP_ERROR_BODY)
            }
        }
        "/barcode" => {
            if *method != Method::POST {
                return Ok(not_allowed("POST"));
            }
            state.created += 1;
            let n = state.created;
            json(201, created_body(n)).header("location", &format!("/barcode/{n}"))
        }
        "/barcode/async" => {
            if *method != Method::POST {
                return Ok(not_allowed("POST"));
            }
            let pending = param(req, "polls", 2, 1000)?;
            let retry_after = param(req, "retry_after", 1, 86_400)?;
            let outcome = match req.query_param("outcome") {
                None | Some("succeeded") => Outcome::Succeeded,
                Some("see-other") => Outcome::SeeOther,
                Some("failed") => Outcome::Failed,
                Some(_) => {
                    return Err(Box::new(json(
                        400,
                        invalid_param_body("outcome", "one of succeeded, see-other, failed"),
                    )));
                }
            };
            state.next_job += 1;
            let id = state.next_job;
            state.jobs.insert(
                id,
                Job {
                    pending,
                    outcome,
                    retry_after,
                },
            );
            json(202, JOB_RUNNING_BODY)
                .header("location", &format!("/jobs/{id}"))
                .header("retry-after", &retry_after.to_string())
        }
        "/barcode/cached" => cached(state, req),
        "/barcode/old" => redirect(307),
        "/barcode/moved" => redirect(301),
        "/barcode/found" => redirect(302),
        "/barcode/see-other" => redirect(303),
        "/barcode/permanent" => redirect(308),
        "/barcode/new" => {
            let content_type = req
                .header("content-type")
                .unwrap_or("application/octet-stream");
            Reply::echo()
                .header("x-echo-length", &req.body.len().to_string())
                .header("content-type", content_type)
        }
        "/barcode/bad" => json(400, BAD_REQUEST_BODY),
        "/barcode/unauthorized" => {
            json(401, UNAUTHORIZED_BODY).header("www-authenticate", "Bearer realm=\"barcode\"")
        }
        "/barcode/forbidden" => json(403, FORBIDDEN_BODY),
        "/barcode/missing" => not_found(),
        "/barcode/get-only" => {
            if !is_get(req) {
                return Ok(not_allowed("GET, HEAD"));
            }
            json(200, OK_BODY)
        }
        "/barcode/conflict" => json(409, CONFLICT_BODY),
        "/barcode/flaky" => {
            let failures = param(req, "failures", 2, 1000)?;
            if state.bump("/barcode/flaky") < failures {
                json(500, SERVER_ERROR_BODY)
            } else {
                json(200, OK_BODY)
            }
        }
        "/barcode/maintenance" => {
            let failures = param(req, "failures", 2, 1000)?;
            if state.bump("/barcode/maintenance") < failures {
                json(503, UNAVAILABLE_BODY).header("retry-after", "1")
            } else {
                json(200, OK_BODY)
            }
        }
        "/barcode/broken" => json(500, SERVER_ERROR_BODY),
        "/barcode/down" => json(503, UNAVAILABLE_BODY).header("retry-after", "1"),
        "/barcode/slow" => {
            let ms = param(req, "ms", 1000, 86_400_000)?;
            json(200, OK_BODY).delay(Duration::from_millis(ms))
        }
        path => {
            if let Some(n) = path.strip_prefix("/barcode/").and_then(parse_id) {
                if !is_get(req) {
                    return Ok(not_allowed("GET, HEAD"));
                }
                if n >= 1 && n <= state.created {
                    json(200, resource_body(n))
                } else {
                    not_found()
                }
            } else if let Some(rest) = path.strip_prefix("/jobs/") {
                jobs(state, req, rest)
            } else {
                not_found()
            }
        }
    };
    Ok(reply)
}

/// A decimal id with no sign, no leading `+` and no surrounding text.
fn parse_id(raw: &str) -> Option<u64> {
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    raw.parse().ok()
}

fn jobs(state: &mut SimState, req: &Recorded, rest: &str) -> Reply {
    let (id, result) = match rest.strip_suffix("/result") {
        Some(id) => (id, true),
        None => (rest, false),
    };
    let Some(id) = parse_id(id) else {
        return not_found();
    };
    let Some(job) = state.jobs.get_mut(&id) else {
        return not_found();
    };
    if !is_get(req) {
        return not_allowed("GET, HEAD");
    }
    if result {
        return if job.pending == 0 && job.outcome == Outcome::SeeOther {
            json(200, OK_BODY)
        } else {
            not_found()
        };
    }
    if job.pending > 0 {
        job.pending -= 1;
        return json(202, JOB_RUNNING_BODY).header("retry-after", &job.retry_after.to_string());
    }
    match job.outcome {
        Outcome::Succeeded => json(200, JOB_SUCCEEDED_BODY),
        Outcome::Failed => json(200, JOB_FAILED_BODY),
        Outcome::SeeOther => Reply::status(303).header("location", &format!("/jobs/{id}/result")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert_eq!(parse_id("12"), Some(12));
        assert_eq!(parse_id("+1"), None);
        assert_eq!(parse_id(""), None);
        assert_eq!(parse_id("1/result"), None);
        assert_eq!(parse_id("99999999999999999999999"), None);
    }
}
