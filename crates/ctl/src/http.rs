//! The POST of `inboxctl send`, through ureq: HTTP or HTTPS (rustls, certificates checked against
//! the Mozilla roots), with fixed timeouts so a receiver that hangs cannot hang the command.
//! `HTTP_PROXY` / `HTTPS_PROXY` / `NO_PROXY` apply, as for any HTTP client.
//! Any answer is returned as it is: the caller decides what a non-2xx status means.

use std::time::Duration;

use crate::error::CtlError;

/// TCP connect plus TLS handshake.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The whole exchange, connect to last byte of the answer.
pub const OVERALL_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Answer {
    pub status: u16,
    pub body: String,
}

pub fn post(url: &url::Url, headers: &[(String, String)], body: &[u8]) -> Result<Answer, CtlError> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(CtlError::Usage(format!(
            "{url}: send posts to http:// or https:// URLs only"
        )));
    }
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(CONNECT_TIMEOUT))
        .timeout_global(Some(OVERALL_TIMEOUT))
        // A 4xx or 5xx is the receiver's answer, printed and turned into exit 1 by `send`.
        .http_status_as_error(false)
        // A receiver does not redirect; following one would post the payload elsewhere, so a
        // 3xx is reported as the answer.
        .max_redirects(0)
        .max_redirects_will_error(false)
        .build()
        .into();
    let mut request = agent.post(url.as_str());
    for (name, value) in headers {
        request = request.header(name.as_str(), value.as_str());
    }
    let failed = |e: ureq::Error| CtlError::Failed(format!("cannot post to {url}: {e}"));
    let mut response = request.send(body).map_err(failed)?;
    let status = response.status().as_u16();
    let body = response.body_mut().read_to_string().map_err(failed)?;
    Ok(Answer { status, body })
}
