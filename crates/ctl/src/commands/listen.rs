//! `inboxctl listen`: a local endpoint for notifications, so that a developer sees the whole loop
//! on a laptop. It verifies each POST as the host application must (Standard Webhooks, with the
//! secret `[notify] secrets` names), prints what arrived and answers 204; it stores nothing and
//! never answers 2xx to a request whose signature does not verify.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::time::Duration;

use actix_web::http::{header, Method, StatusCode};
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use chrono::Utc;
use domain::signature::{self, Scheme, SigningSecret};
use serde_json::{json, Value};

use crate::error::CtlError;
use crate::output;

/// Larger than any notification (a few hundred bytes); anything past it is not one.
const BODY_LIMIT: usize = 1024 * 1024;
/// A client that has not sent its headers within this is answered 408 and dropped.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

struct Verifier {
    scheme: Scheme,
    secrets: Vec<SigningSecret>,
    json: bool,
}

pub fn listen(bind: IpAddr, port: u16, secret_vars: &[String], json: bool) -> Result<(), CtlError> {
    let scheme = Scheme::StandardWebhooks(Default::default());
    let secrets = secret_vars
        .iter()
        .map(|var| {
            let value = std::env::var(var)
                .ok()
                .filter(|v| !v.trim().is_empty())
                .ok_or_else(|| {
                    CtlError::Usage(format!(
                        "--secret-env: environment variable {var} is not set"
                    ))
                })?;
            scheme
                .secret(value.trim())
                .map_err(|e| CtlError::Usage(format!("--secret-env: the secret in {var}: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let addr = SocketAddr::new(bind, port);
    let listener = TcpListener::bind(addr)
        .map_err(|e| CtlError::Failed(format!("cannot listen on {addr}: {e}")))?;
    let bound = listener
        .local_addr()
        .map_err(|e| CtlError::Failed(format!("cannot listen on {addr}: {e}")))?;
    announce(bound, secret_vars);
    let verifier = web::Data::new(Verifier {
        scheme,
        secrets,
        json,
    });
    let served = actix_web::rt::System::new().block_on(async move {
        HttpServer::new(move || {
            App::new()
                .app_data(verifier.clone())
                .app_data(web::PayloadConfig::new(BODY_LIMIT))
                .default_service(web::to(receive))
        })
        .workers(1)
        .client_request_timeout(REQUEST_TIMEOUT)
        .shutdown_timeout(1)
        .listen(listener)?
        .run()
        .await
    });
    served.map_err(|e| CtlError::Failed(format!("listening on {bound}: {e}")))
}

/// Where to send notifications, on stderr: stdout carries only what arrives.
fn announce(bound: SocketAddr, secret_vars: &[String]) {
    // A wildcard address is where we listen, not where to send: this machine is.
    let host = match bound.ip() {
        ip if ip.is_unspecified() => SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), bound.port()),
        _ => bound,
    };
    let names: Vec<String> = secret_vars.iter().map(|v| format!("{v:?}")).collect();
    eprintln!("inboxctl listen: listening on http://{host}/ (any path); Ctrl-C stops");
    eprintln!("deliver here with, in the processor's configuration:");
    eprintln!();
    eprintln!("  [notify]");
    eprintln!("  url = \"http://{host}/\"");
    eprintln!("  secrets = [{}]", names.join(", "));
    eprintln!();
}

async fn receive(
    request: HttpRequest,
    body: web::Bytes,
    verifier: web::Data<Verifier>,
) -> HttpResponse {
    let received = Utc::now();
    let at = output::time(&received);
    if request.method() != Method::POST {
        eprintln!(
            "{at}  refused (405): {} {}",
            request.method(),
            request.path()
        );
        return refuse(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "POST only",
        );
    }
    let headers: Vec<(String, String)> = request
        .headers()
        .iter()
        .filter_map(|(name, value)| Some((name.to_string(), value.to_str().ok()?.to_owned())))
        .collect();
    let webhook_id = headers
        .iter()
        .find(|(name, _)| name == "webhook-id")
        .map(|(_, value)| value.clone())
        .unwrap_or_else(|| "-".to_owned());
    let now = received.timestamp();
    if let Err(error) = signature::verify(&verifier.scheme, &verifier.secrets, &headers, &body, now)
    {
        eprintln!("{at}  refused (401): {error}  webhook-id={webhook_id}");
        return refuse(
            StatusCode::UNAUTHORIZED,
            error.code(),
            "the signature does not verify",
        );
    }
    let Ok(notification) = serde_json::from_slice::<Value>(&body) else {
        eprintln!("{at}  refused (400): the body is not JSON  webhook-id={webhook_id}");
        return refuse(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            "the body is not JSON",
        );
    };
    if verifier.json {
        println!("{notification}");
    } else {
        let data = &notification["data"];
        println!(
            "{at}  {webhook_id}  {:<26}  request_ref={}  status={}  version={}",
            text(&notification["type"]),
            text(&data["request_ref"]),
            text(&data["status"]),
            text(&data["version"]),
        );
    }
    HttpResponse::NoContent().finish()
}

/// A JSON string as its text, any other value as JSON, a missing one as `-`.
fn text(value: &Value) -> String {
    match value {
        Value::Null => "-".to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn refuse(status: StatusCode, code: &str, message: &str) -> HttpResponse {
    let mut answer = HttpResponse::build(status);
    if status == StatusCode::METHOD_NOT_ALLOWED {
        answer.insert_header((header::ALLOW, "POST"));
    }
    answer.json(json!({"error": {"code": code, "message": message}}))
}
