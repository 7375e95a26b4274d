//! `inboxctl send`: sign a payload exactly as the provider's preset expects and post it.

use std::io::Read;
use std::path::Path;

use domain::signature;
use inbox_config::ProcessEnvironment;

use crate::context::Context;
use crate::error::CtlError;
use crate::http;

pub fn send(ctx: &Context, name: &str, file: &Path, url: Option<&str>) -> Result<(), CtlError> {
    let settings = ctx.settings.providers.get(name).ok_or_else(|| {
        let known: Vec<_> = ctx.settings.providers.keys().cloned().collect();
        CtlError::Usage(format!(
            "no provider {name:?} in the configuration (configured: {})",
            if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            }
        ))
    })?;
    let provider = settings.resolve(name, &ProcessEnvironment)?;
    let body = if file == Path::new("-") {
        let mut buffer = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buffer)
            .map_err(|e| CtlError::Usage(format!("cannot read stdin: {e}")))?;
        buffer
    } else {
        std::fs::read(file)
            .map_err(|e| CtlError::Usage(format!("cannot read {}: {e}", file.display())))?
    };
    if serde_json::from_slice::<serde_json::Value>(&body).is_err() {
        return Err(CtlError::Usage(format!("{} is not JSON", file.display())));
    }
    let mut headers = vec![("Content-Type".to_owned(), "application/json".to_owned())];
    if let Some(secret) = provider.secrets.first() {
        let now = chrono::Utc::now().timestamp();
        headers.extend(signature::sign(&provider.scheme, secret, &body, now, None));
    }
    let target = match url {
        Some(url) => url.to_owned(),
        None => {
            let bind = ctx.settings.receiver.bind;
            let host = if bind.ip().is_unspecified() {
                "127.0.0.1".to_owned()
            } else {
                bind.ip().to_string()
            };
            format!("http://{host}:{}/webhooks/{name}", bind.port())
        }
    };
    let target =
        url::Url::parse(&target).map_err(|e| CtlError::Usage(format!("--url {target:?}: {e}")))?;
    let answer = http::post(&target, &headers, &body)?;
    println!("{} {}", answer.status, answer.body.trim());
    if (200..300).contains(&answer.status) {
        Ok(())
    } else {
        Err(CtlError::Failed(format!(
            "the receiver answered {}",
            answer.status
        )))
    }
}
