//! What docs/openapi.yaml allows an answer to be: per operation, its documented statuses, content
//! types and error codes (a code counts for a status when that status's description names it);
//! outside the operations, the answers its introduction gives to the HTTP layer and to unknown
//! routes.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value as Json;
use serde_yaml::Value;

use super::wire::Answer;

/// Statuses the HTTP layer answers with an empty body, before any route.
pub const HTTP_LAYER: [u16; 3] = [400, 408, 431];

struct Documented {
    description: String,
    content_types: Vec<String>,
}

pub struct Contract {
    operations: BTreeMap<(String, String), BTreeMap<u16, Documented>>,
    codes: BTreeSet<String>,
    introduction: String,
    event_answer: BTreeSet<String>,
}

impl Contract {
    pub fn load() -> Contract {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.yaml");
        let doc: Value = serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let mut operations = BTreeMap::new();
        for (path, item) in doc["paths"].as_mapping().unwrap() {
            for (method, operation) in item.as_mapping().unwrap() {
                let responses = operation["responses"].as_mapping().unwrap();
                let statuses = responses
                    .iter()
                    .map(|(status, response)| {
                        let content_types = response["content"]
                            .as_mapping()
                            .map(|c| c.keys().map(|k| k.as_str().unwrap().to_owned()).collect())
                            .unwrap_or_default();
                        let documented = Documented {
                            description: response["description"].as_str().unwrap().to_owned(),
                            content_types,
                        };
                        (status.as_str().unwrap().parse::<u16>().unwrap(), documented)
                    })
                    .collect();
                let key = (
                    method.as_str().unwrap().to_owned(),
                    path.as_str().unwrap().to_owned(),
                );
                operations.insert(key, statuses);
            }
        }
        let strings = |v: &Value| -> BTreeSet<String> {
            v.as_sequence()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap().to_owned())
                .collect()
        };
        let schemas = &doc["components"]["schemas"];
        let contract = Contract {
            operations,
            codes: strings(&schemas["Error"]["properties"]["error"]["properties"]["code"]["enum"]),
            introduction: doc["info"]["description"].as_str().unwrap().to_owned(),
            event_answer: strings(&schemas["EventAnswer"]["required"]),
        };
        for status in HTTP_LAYER {
            assert!(
                contract.introduction.contains(&format!("{status} ")),
                "docs/openapi.yaml does not give the HTTP layer's {status}"
            );
        }
        assert!(contract.introduction.contains("404 `not_found`"));
        contract
    }

    /// Why `answer` is not one the document gives to a request for `operation` (lower-case
    /// method, path template; `None` when the request names no operation), if it is not; else
    /// its body, parsed. The answer to a HEAD request has no body: its status and content type
    /// are checked.
    pub fn check(
        &self,
        operation: Option<(&str, &str)>,
        answer: &Answer,
        head_request: bool,
    ) -> Result<Option<Json>, String> {
        let status = answer.status;
        if answer.body.is_empty() && answer.content_type.is_none() && HTTP_LAYER.contains(&status) {
            return Ok(None); // The HTTP layer's, before any route.
        }
        let documented = operation.and_then(|(method, path)| {
            let statuses = self.operations.get(&(method.to_owned(), path.to_owned()))?;
            Some((statuses.get(&status), path))
        });
        let (description, content_types) = match documented {
            Some((Some(doc), _)) => (doc.description.as_str(), doc.content_types.as_slice()),
            Some((None, path)) => return Err(format!("{status} is not documented for {path}")),
            // No operation: only the introduction's 404 `not_found`.
            None if status == 404 => ("404 `not_found`", &[JSON.to_owned()][..]),
            None => {
                return Err(format!(
                    "{status} for a request naming no documented operation"
                ))
            }
        };
        let content_type = answer.content_type.as_deref().unwrap_or_default();
        if !content_types
            .iter()
            .any(|t| content_type.starts_with(t.as_str()))
        {
            return Err(format!(
                "{status} as {content_type:?}, documented as {content_types:?}"
            ));
        }
        if head_request {
            return Ok(None);
        }
        let body: Json = serde_json::from_slice(&answer.body).map_err(|e| {
            format!(
                "{status} with a body that is not JSON ({e}): {:?}",
                lossy(&answer.body)
            )
        })?;
        if status >= 400 {
            let code = error_code(&body)
                .ok_or_else(|| format!("{status} without the Error shape: {body}"))?;
            if !self.codes.contains(code) || !description.contains(&format!("`{code}`")) {
                return Err(format!(
                    "{status} with code {code:?}, not documented for it"
                ));
            }
        } else if operation.is_some_and(|(_, path)| path == "/webhooks/{provider}") {
            let keys: BTreeSet<String> = body
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, _)| k.clone())
                .collect();
            if keys != self.event_answer {
                return Err(format!(
                    "{status} with fields {keys:?}, documented {:?}",
                    self.event_answer
                ));
            }
        } else if !body["status"].is_string() {
            return Err(format!("{status} without a status: {body}"));
        }
        Ok(Some(body))
    }
}

const JSON: &str = "application/json";

/// `error.code` of an answer in the documented Error shape (`{"error": {"code", "message"}}`).
pub fn error_code(body: &Json) -> Option<&str> {
    let outer = body.as_object().filter(|o| o.len() == 1)?;
    let error = outer.get("error")?.as_object().filter(|e| e.len() == 2)?;
    error.get("message")?.as_str()?;
    error.get("code")?.as_str()
}

pub fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(&bytes[..bytes.len().min(300)]).into_owned()
}
