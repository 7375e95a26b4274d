//! The operator console over HTTP, as a browser without scripts would use it: sign-in, the
//! session cookie's attributes, CSRF refusals, security headers, hostile payloads rendered as
//! text, scopes on replays and overrides (the override audited with the key's name).

use std::collections::HashMap;
use std::time::Duration;

use chrono::TimeDelta;
use persistence::{
    add_intake_counts, collection_history, create_collection, find_collection, find_event,
    mark_failed, minute_of, now, record_event, EventStatus, IntakeCount, NewCollection,
    NewWebhookEvent,
};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{TestApi, APP_KEY, OPS_KEY, READER_KEY};

on_both_backends!(
    signing_in_is_required_and_the_session_is_a_strict_cookie,
    hostile_payloads_render_as_text,
    replays_need_the_admin_scope_and_the_forms_token,
    an_override_is_audited_with_the_key_name,
    every_page_answers,
    collections_come_latest_change_first_within_a_range,
    events_are_filtered_and_replayed_by_the_time_received,
    the_overview_draws_the_last_hour_and_its_lag,
    the_providers_page_shows_each_ones_answers,
);

const HOSTILE: &str = "<script>alert(1)</script>";
const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; \
                   form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The text a browser shows for `html`: character references decoded (askama writes `<` as
/// `&#60;`, other escapers as `&lt;`).
fn shown(html: &str) -> String {
    [
        ("&#60;", "<"),
        ("&lt;", "<"),
        ("&#62;", ">"),
        ("&gt;", ">"),
        ("&#34;", "\""),
        ("&quot;", "\""),
        ("&#39;", "'"),
        ("&#38;", "&"),
        ("&amp;", "&"),
    ]
    .iter()
    .fold(html.to_owned(), |text, (reference, c)| {
        text.replace(reference, c)
    })
}

pub(crate) struct Page {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Page {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn set_cookie(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
            .map(|(_, v)| v.as_str())
            .find(|v| v.starts_with(&format!("{name}=")))
    }

    /// The first form token on the page.
    pub fn csrf(&self) -> String {
        let start = self
            .body
            .find(r#"name="csrf" value=""#)
            .unwrap_or_else(|| panic!("no form token in {}", self.body))
            + r#"name="csrf" value=""#.len();
        let end = self.body[start..].find('"').unwrap() + start;
        self.body[start..end].to_owned()
    }
}

/// A client that keeps cookies and never follows redirects, so that each answer is seen.
pub(crate) struct Browser {
    /// The API this browser talks to; another replica's base moves it there, cookies and all.
    pub base: String,
    pub cookies: HashMap<String, String>,
    /// Extra headers on every request (a proxy's `X-Forwarded-Proto`).
    pub headers: Vec<(String, String)>,
}

impl Browser {
    pub fn new(api: &TestApi) -> Browser {
        Browser {
            base: api.base(),
            cookies: HashMap::new(),
            headers: Vec::new(),
        }
    }

    /// Signed in with `key` through the sign-in form.
    pub async fn signed_in(api: &TestApi, key: &str) -> Browser {
        let mut browser = Browser::new(api);
        let form = browser.get("/console/login").await;
        assert_eq!(form.status, 200);
        let csrf = form.csrf();
        let answer = browser
            .post("/console/login", &[("key", key), ("csrf", &csrf)])
            .await;
        assert_eq!(answer.status, 303, "{}", answer.body);
        assert_eq!(answer.header("location"), Some("/console/"));
        browser
    }

    pub async fn get(&mut self, path: &str) -> Page {
        self.send("GET", path, None).await
    }

    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        self.send("POST", path, Some(body)).await
    }

    async fn send(&mut self, method: &str, path: &str, body: Option<String>) -> Page {
        let url = format!("{}{path}", self.base);
        let mut headers = self.headers.clone();
        if !self.cookies.is_empty() {
            let jar: Vec<String> = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            headers.push(("Cookie".into(), jar.join("; ")));
        }
        if body.is_some() {
            headers.push((
                "Content-Type".into(),
                "application/x-www-form-urlencoded".into(),
            ));
        }
        let method = method.to_owned();
        let page = tokio::task::spawn_blocking(move || fetch(&method, &url, &headers, body))
            .await
            .unwrap();
        for (name, value) in &page.headers {
            if !name.eq_ignore_ascii_case("set-cookie") {
                continue;
            }
            let pair = value.split(';').next().unwrap();
            let (k, v) = pair.split_once('=').unwrap();
            if v.is_empty() || value.contains("Max-Age=0") {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_owned(), v.to_owned());
            }
        }
        page
    }
}

fn fetch(method: &str, url: &str, headers: &[(String, String)], body: Option<String>) -> Page {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(30)))
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into();
    let request = ureq::http::Request::builder().method(method).uri(url);
    let request = headers
        .iter()
        .fold(request, |r, (k, v)| r.header(k.as_str(), v.as_str()));
    let mut response = match body {
        Some(body) => agent.run(request.body(body.into_bytes()).unwrap()),
        None => agent.run(request.body(()).unwrap()),
    }
    .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let headers = response
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap().to_owned()))
        .collect();
    Page {
        status: response.status().as_u16(),
        headers,
        body: response.body_mut().read_to_string().unwrap_or_default(),
    }
}

fn record(api: &TestApi, provider: &str, key: &str, reference: &str, payload: &Value) -> Uuid {
    let new = NewWebhookEvent::received(
        provider,
        Some(key),
        key,
        Some(reference),
        payload,
        None,
        now() - TimeDelta::minutes(1),
    );
    record_event(&mut api.pool.get().unwrap(), &new)
        .unwrap()
        .event()
        .id
}

pub(crate) fn failed(api: &TestApi, provider: &str, key: &str, reason: &str) -> Uuid {
    let payload = json!({"id": key, "reference": "REQ-1", "status": "weird"});
    let id = record(api, provider, key, "REQ-1", &payload);
    mark_failed(&mut api.pool.get().unwrap(), id, reason, now()).unwrap();
    id
}

pub(crate) fn status_of(api: &TestApi, id: Uuid) -> EventStatus {
    find_event(&mut api.pool.get().unwrap(), id)
        .unwrap()
        .unwrap()
        .status
}

async fn signing_in_is_required_and_the_session_is_a_strict_cookie(api: TestApi) {
    let mut anonymous = Browser::new(&api);
    for path in ["/console/", "/console/events", "/console/collections/REQ-1"] {
        let page = anonymous.get(path).await;
        assert_eq!(page.status, 303, "{path}");
        assert_eq!(page.header("location"), Some("/console/login"), "{path}");
    }
    let bare = anonymous.get("/console").await;
    assert_eq!(bare.header("location"), Some("/console/"));

    // The form, with its headers and its token cookie.
    let form = anonymous.get("/console/login").await;
    assert_eq!(form.status, 200);
    assert_eq!(form.header("content-security-policy"), Some(CSP));
    assert_eq!(form.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(form.header("referrer-policy"), Some("no-referrer"));
    assert_eq!(form.header("cache-control"), Some("no-store"));
    assert!(form
        .header("content-type")
        .unwrap()
        .starts_with("text/html"));
    let csrf = form.csrf();

    // No token, or another one: refused before the key is looked at.
    let mut stranger = Browser::new(&api);
    let forged = stranger
        .post("/console/login", &[("key", OPS_KEY), ("csrf", &csrf)])
        .await;
    assert_eq!(forged.status, 403, "the token without its cookie");
    let missing = anonymous.post("/console/login", &[("key", OPS_KEY)]).await;
    assert_eq!(missing.status, 403);
    assert!(missing.set_cookie("inbox_console").is_none());

    // A wrong key: the form again, no session.
    let wrong = anonymous
        .post(
            "/console/login",
            &[("key", "not-a-key-0123456789abcdefgh"), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.body.contains("not an API key"));
    assert!(wrong.set_cookie("inbox_console").is_none());
    assert_eq!(anonymous.get("/console/").await.status, 303);
    // The session cookie: HttpOnly, SameSite=Strict, the console's path, not Secure over HTTP.
    let mut reader = Browser::new(&api);
    let form = reader.get("/console/login").await;
    let csrf = form.csrf();
    let signed = reader
        .post("/console/login", &[("key", READER_KEY), ("csrf", &csrf)])
        .await;
    assert_eq!(signed.status, 303);
    let cookie = signed.set_cookie("inbox_console").unwrap();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Strict"), "{cookie}");
    assert!(cookie.contains("Path=/console"), "{cookie}");
    assert!(!cookie.contains("Secure"), "{cookie}");
    assert!(
        !cookie.contains(READER_KEY),
        "the key is never in the cookie"
    );
    let overview = reader.get("/console/").await;
    assert_eq!(overview.status, 200, "{}", overview.body);
    assert!(overview.body.contains("reader"));
    assert!(overview.body.contains("read only"));
    assert_eq!(overview.header("content-security-policy"), Some(CSP));
    assert!(!overview.body.contains(READER_KEY));

    // Behind a TLS proxy the cookies are Secure.
    let mut behind_tls = Browser::new(&api);
    behind_tls.headers = vec![("X-Forwarded-Proto".into(), "https".into())];
    let form = behind_tls.get("/console/login").await;
    assert!(form
        .set_cookie("inbox_console_login")
        .unwrap()
        .contains("Secure"));
    let csrf = form.csrf();
    let signed = behind_tls
        .post("/console/login", &[("key", READER_KEY), ("csrf", &csrf)])
        .await;
    assert!(signed
        .set_cookie("inbox_console")
        .unwrap()
        .contains("Secure"));

    // Sign-out needs the token, then ends the session on the server.
    let session = reader.cookies["inbox_console"].clone();
    assert_eq!(reader.post("/console/logout", &[]).await.status, 403);
    let csrf = overview.csrf();
    let out = reader.post("/console/logout", &[("csrf", &csrf)]).await;
    assert_eq!(out.status, 303);
    assert_eq!(out.header("location"), Some("/console/login"));
    let mut replayed_cookie = Browser::new(&api);
    replayed_cookie
        .cookies
        .insert("inbox_console".into(), session);
    assert_eq!(
        replayed_cookie.get("/console/").await.status,
        303,
        "a closed session's cookie opens nothing"
    );
}

async fn hostile_payloads_render_as_text(api: TestApi) {
    let reference = format!("{HOSTILE}javascript:alert(1)");
    let payload = json!({
        "id": HOSTILE,
        "reference": reference,
        "status": "javascript:alert(1)",
        "customer": {"name": "\"><img src=x onerror=alert(1)>", "note": HOSTILE},
    });
    let event = record(&api, "paystack", HOSTILE, &reference, &payload);
    mark_failed(
        &mut api.pool.get().unwrap(),
        event,
        &format!("unknown status {HOSTILE}"),
        now(),
    )
    .unwrap();
    {
        let mut conn = api.pool.get().unwrap();
        let metadata = json!({"note": HOSTILE, "link": "javascript:alert(1)"});
        let mut new = NewCollection::initiated(&reference);
        new.metadata = Some(&metadata);
        create_collection(&mut conn, &new, now()).unwrap();
    }
    let mut ops = Browser::signed_in(&api, OPS_KEY).await;
    let encoded: String = url::form_urlencoded::byte_serialize(reference.as_bytes()).collect();
    let pages = [
        format!("/console/events/{event}"),
        "/console/events?status=FAILED".to_owned(),
        format!("/console/collections/{}", encoded.replace('+', "%20")),
        format!("/console/collections?request_ref={encoded}"),
        "/console/collections".to_owned(),
    ];
    for path in &pages {
        let page = ops.get(path).await;
        assert_eq!(page.status, 200, "{path}: {}", page.body);
        assert!(!page.body.contains("<script"), "{path}: {}", page.body);
        assert!(!page.body.contains("<img"), "{path}");
        assert!(!page.body.contains("href=\"javascript:"), "{path}");
        assert!(
            shown(&page.body).contains(HOSTILE),
            "{path} shows the text: {}",
            page.body
        );
    }
    // Unescaped it would have been a tag; escaped, an operator reads exactly what was sent.
    let event_page = ops.get(&format!("/console/events/{event}")).await;
    assert!(shown(&event_page.body).contains(r#"\"><img src=x onerror=alert(1)>"#));
    // A search for a hostile reference that does not exist echoes it escaped.
    let missing = ops
        .get("/console/collections?request_ref=%3Cscript%3Ex")
        .await;
    assert!(!missing.body.contains("<script"));
    assert!(shown(&missing.body).contains("<script>x"));
}

async fn replays_need_the_admin_scope_and_the_forms_token(api: TestApi) {
    let one = failed(&api, "paystack", "evt-1", "unknown status weird");
    let mut reader = Browser::signed_in(&api, READER_KEY).await;
    let page = reader.get(&format!("/console/events/{one}")).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("unknown status weird"), "the reason");
    assert!(
        shown(&page.body).contains(r#""status": "weird""#),
        "the payload"
    );
    assert!(
        page.body
            .contains("needs a key with the admin scope; yours is read only"),
        "a reader is told the button is not for them"
    );
    let csrf = page.csrf();
    let refused = reader
        .post(&format!("/console/events/{one}/replay"), &[("csrf", &csrf)])
        .await;
    assert_eq!(refused.status, 403);
    assert_eq!(status_of(&api, one), EventStatus::Failed);
    let list = reader.get("/console/events?status=FAILED").await;
    assert!(!list.body.contains("/console/events/replay"));
    assert_eq!(
        reader
            .get("/console/events/replay?status=FAILED")
            .await
            .status,
        403
    );

    let mut ops = Browser::signed_in(&api, OPS_KEY).await;
    let page = ops.get(&format!("/console/events/{one}")).await;
    assert!(page.body.contains("Replay this event"));
    let path = format!("/console/events/{one}/replay");
    assert_eq!(ops.post(&path, &[]).await.status, 403, "no token");
    assert_eq!(
        ops.post(&path, &[("csrf", "forged")]).await.status,
        403,
        "another token"
    );
    assert_eq!(
        ops.post(&path, &[("csrf", &reader_token(&mut reader).await)])
            .await
            .status,
        403,
        "another session's token"
    );
    assert_eq!(status_of(&api, one), EventStatus::Failed);
    let replayed = ops.post(&path, &[("csrf", &page.csrf())]).await;
    assert_eq!(replayed.status, 303, "{}", replayed.body);
    assert_eq!(
        replayed.header("location"),
        Some(format!("/console/events/{one}").as_str())
    );
    assert_eq!(status_of(&api, one), EventStatus::Received);
    let after = ops.get(&format!("/console/events/{one}")).await;
    assert!(after.body.contains("replayed from the console by key ops"));

    // Every failed paystack event: the count first, then the replay.
    let two = failed(&api, "paystack", "evt-2", "no collection");
    let three = failed(&api, "paystack", "evt-3", "no collection");
    let other = failed(&api, "stripe", "evt-4", "no collection");
    let list = ops
        .get("/console/events?status=FAILED&provider=paystack")
        .await;
    assert!(shown(&list.body).contains("/console/events/replay?status=FAILED&provider=paystack"));
    let confirm = ops
        .get("/console/events/replay?status=FAILED&provider=paystack")
        .await;
    assert_eq!(confirm.status, 200, "{}", confirm.body);
    assert!(
        confirm.body.contains(r#"<b class="count">2</b>"#),
        "{}",
        confirm.body
    );
    let csrf = confirm.csrf();
    let fields = [
        ("csrf", csrf.as_str()),
        ("status", "FAILED"),
        ("provider", "paystack"),
    ];
    let reader_csrf = reader_token(&mut reader).await;
    let by_reader = reader
        .post(
            "/console/events/replay",
            &[("csrf", &reader_csrf), ("status", "FAILED")],
        )
        .await;
    assert_eq!(by_reader.status, 403);
    assert_eq!(
        ops.post("/console/events/replay", &fields[1..])
            .await
            .status,
        403
    );
    let done = ops.post("/console/events/replay", &fields).await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(
        done.body.contains("<b>2</b> events sent back"),
        "{}",
        done.body
    );
    assert_eq!(status_of(&api, two), EventStatus::Received);
    assert_eq!(status_of(&api, three), EventStatus::Received);
    assert_eq!(status_of(&api, other), EventStatus::Failed);
}

async fn reader_token(reader: &mut Browser) -> String {
    reader.get("/console/").await.csrf()
}

async fn an_override_is_audited_with_the_key_name(api: TestApi) {
    let created = api
        .call(
            "POST",
            "/v1/collections",
            Some(APP_KEY),
            Some(json!({"request_ref": "order-7", "amount": "100", "currency": "NGN"})),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let path = "/console/collections/order-7/override";

    let mut reader = Browser::signed_in(&api, READER_KEY).await;
    let timeline = reader.get("/console/collections/order-7").await;
    assert_eq!(timeline.status, 200);
    assert!(
        !timeline.body.contains(path),
        "no override form for a reader"
    );
    let csrf = timeline.csrf();
    let refused = reader
        .post(
            path,
            &[("csrf", &csrf), ("status", "SUCCESS"), ("reason", "paid")],
        )
        .await;
    assert_eq!(refused.status, 403);

    let mut ops = Browser::signed_in(&api, OPS_KEY).await;
    let timeline = ops.get("/console/collections/order-7").await;
    assert!(timeline.body.contains(path));
    let csrf = timeline.csrf();
    assert_eq!(
        ops.post(path, &[("status", "SUCCESS"), ("reason", "paid")])
            .await
            .status,
        403,
        "no token"
    );
    let no_reason = ops
        .post(
            path,
            &[("csrf", &csrf), ("status", "SUCCESS"), ("reason", " ")],
        )
        .await;
    assert_eq!(no_reason.status, 422, "a reason is required");
    let stored = find_collection(&mut api.pool.get().unwrap(), "order-7")
        .unwrap()
        .unwrap();
    assert_eq!(stored.status.as_str(), "INITIATED", "nothing changed yet");

    let reason = format!("bank statement 12 {HOSTILE}");
    let done = ops
        .post(
            path,
            &[("csrf", &csrf), ("status", "SUCCESS"), ("reason", &reason)],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(
        done.header("location"),
        Some("/console/collections/order-7")
    );
    let stored = find_collection(&mut api.pool.get().unwrap(), "order-7")
        .unwrap()
        .unwrap();
    assert_eq!(stored.status.as_str(), "SUCCESS");
    let history = collection_history(&mut api.pool.get().unwrap(), stored.id).unwrap();
    let last = history.last().unwrap();
    assert_eq!(last.outcome.as_str(), "override");
    assert_eq!(last.actor, "ops");
    assert_eq!(last.reason, reason);
    let timeline = ops.get("/console/collections/order-7").await;
    assert!(shown(&timeline.body).contains(&reason));
    assert!(!timeline.body.contains("<script"));
    assert!(timeline.body.contains("<td>ops</td>"));

    // The override told the application; make that delivery a failure and replay it.
    {
        use diesel::RunQueryDsl;
        let mut conn = api.pool.get().unwrap();
        let failed = diesel::sql_query(format!(
            "UPDATE notifications SET status = 'FAILED', attempts = 8, \
             last_error = 'endpoint answered 500: {HOSTILE}'"
        ))
        .execute(&mut *conn)
        .unwrap();
        assert_eq!(failed, 1);
    }
    let list = reader.get("/console/notifications?status=FAILED").await;
    assert!(shown(&list.body).contains(&format!("endpoint answered 500: {HOSTILE}")));
    assert!(!list.body.contains("<script"));
    assert!(
        !list.body.contains("/replay"),
        "no replay button for a reader"
    );
    let list = ops.get("/console/notifications?status=FAILED").await;
    let start = list.body.find("/console/notifications/").unwrap();
    let end = start + list.body[start..].find('"').unwrap();
    let replay = list.body[start..end].to_owned();
    assert!(replay.ends_with("/replay"), "{replay}");
    let reader_csrf = reader_token(&mut reader).await;
    assert_eq!(
        reader.post(&replay, &[("csrf", &reader_csrf)]).await.status,
        403
    );
    let done = ops
        .post(&replay, &[("csrf", &list.csrf()), ("status", "FAILED")])
        .await;
    assert_eq!(done.status, 303);
    let pending = ops.get("/console/notifications?status=PENDING").await;
    assert!(pending.body.contains("order-7"), "{}", pending.body);
    let failed = ops.get("/console/notifications?status=FAILED").await;
    assert!(failed.body.contains("No notification matches."));
}

async fn every_page_answers(api: TestApi) {
    failed(&api, "paystack", "evt-1", "no collection");
    let mut reader = Browser::signed_in(&api, READER_KEY).await;
    for path in [
        "/console/",
        "/console/collections",
        "/console/collections?status=success",
        "/console/events",
        "/console/events?status=failed&provider=paystack",
        "/console/notifications",
        "/console/notifications?status=FAILED",
        "/console/providers",
    ] {
        let page = reader.get(path).await;
        assert_eq!(page.status, 200, "{path}: {}", page.body);
        assert_eq!(page.header("content-security-policy"), Some(CSP), "{path}");
    }
    let overview = reader.get("/console/").await;
    assert!(overview.body.contains("Failed events"));
    let css = reader.get("/console/assets/console.css").await;
    assert_eq!(css.status, 200);
    assert!(css.header("content-type").unwrap().starts_with("text/css"));
    for (path, status) in [
        ("/console/collections/none-such", 404),
        (&*format!("/console/events/{}", Uuid::new_v4()), 404),
        ("/console/events/not-an-id", 404),
        ("/console/events?status=LOST", 422),
        ("/console/collections?cursor=nonsense", 422),
        ("/console/collections?updated_from=yesterday", 422),
        ("/console/no-such-page", 404),
    ] {
        let page = reader.get(path).await;
        assert_eq!(page.status, status, "{path}");
        assert!(page.body.contains("<h1>"), "{path}: an HTML page");
        assert_eq!(page.header("content-security-policy"), Some(CSP), "{path}");
    }
}

async fn collections_come_latest_change_first_within_a_range(api: TestApi) {
    let t0 = now() - TimeDelta::hours(2);
    {
        let mut conn = api.pool.get().unwrap();
        for (n, minutes) in [(1, 0), (2, 10), (3, 20), (4, 30)] {
            let reference = format!("REQ-RANGE-{n}");
            let new = NewCollection::initiated(&reference);
            create_collection(&mut conn, &new, t0 + TimeDelta::minutes(minutes)).unwrap();
        }
    }
    let mut reader = Browser::signed_in(&api, READER_KEY).await;
    let order = |body: &str| -> Vec<u32> {
        body.match_indices("REQ-RANGE-")
            .filter_map(|(at, _)| body[at + 10..at + 11].parse().ok())
            .fold(Vec::new(), |mut seen, n| {
                if !seen.contains(&n) {
                    seen.push(n);
                }
                seen
            })
    };
    let all = reader.get("/console/collections").await;
    assert_eq!(order(&all.body), [4, 3, 2, 1], "latest change first");
    // Both ends included, to the second; the fields show the range back.
    let from = (t0 + TimeDelta::minutes(10)).format("%Y-%m-%dT%H:%M:%S");
    let to = (t0 + TimeDelta::minutes(20)).format("%Y-%m-%dT%H:%M:%S");
    let ranged = reader
        .get(&format!(
            "/console/collections?updated_from={from}&updated_to={to}"
        ))
        .await;
    assert_eq!(ranged.status, 200, "{}", ranged.body);
    assert_eq!(order(&ranged.body), [3, 2], "{}", ranged.body);
    assert!(ranged.body.contains(&format!(r#"value="{from}""#)));
    let later = reader
        .get(&format!("/console/collections?updated_from={to}"))
        .await;
    assert_eq!(order(&later.body), [4, 3]);
    // A cursor of the API's list (oldest change first) is not read backwards.
    let api_page = api
        .call("GET", "/v1/collections?limit=1", Some(READER_KEY), None)
        .await;
    let api_cursor = api_page.body["next_cursor"].as_str().unwrap().to_owned();
    let refused = reader
        .get(&format!("/console/collections?cursor={api_cursor}"))
        .await;
    assert_eq!(refused.status, 422);
}

async fn events_are_filtered_and_replayed_by_the_time_received(api: TestApi) {
    let t0 = now() - TimeDelta::hours(3);
    let mut ids = Vec::new();
    for (n, minutes) in [(1, 0), (2, 10), (3, 20), (4, 30)] {
        let key = format!("evt-time-{n}");
        let payload = json!({"id": key});
        let new = NewWebhookEvent::received(
            "paystack",
            Some(&key),
            &key,
            Some("REQ-T"),
            &payload,
            None,
            t0 + TimeDelta::minutes(minutes),
        );
        let mut conn = api.pool.get().unwrap();
        let id = record_event(&mut conn, &new).unwrap().event().id;
        mark_failed(&mut conn, id, "no collection", now()).unwrap();
        ids.push(id);
    }
    let from = (t0 + TimeDelta::minutes(10)).format("%Y-%m-%dT%H:%M:%S");
    let to = (t0 + TimeDelta::minutes(20)).format("%Y-%m-%dT%H:%M:%S");
    let range = format!("received_from={from}&received_to={to}");
    let mut ops = Browser::signed_in(&api, OPS_KEY).await;
    let list = ops
        .get(&format!("/console/events?status=FAILED&{range}"))
        .await;
    assert_eq!(list.status, 200, "{}", list.body);
    let shown_ids: Vec<bool> = ids
        .iter()
        .map(|id| list.body.contains(&id.to_string()))
        .collect();
    assert_eq!(shown_ids, [false, true, true, false], "both ends included");
    // The "replay every event matching" link carries the range.
    let body = shown(&list.body);
    let start = body
        .find("/console/events/replay?")
        .unwrap_or_else(|| panic!("no replay link in {body}"));
    let confirm_path = &body[start..start + body[start..].find('"').unwrap()];
    assert!(confirm_path.contains("received_from=2"), "{confirm_path}");
    assert!(confirm_path.contains("received_to=2"), "{confirm_path}");
    let confirm = ops.get(confirm_path).await;
    assert!(
        confirm.body.contains(r#"<b class="count">2</b>"#),
        "{}",
        confirm.body
    );
    let (from, to) = (from.to_string(), to.to_string());
    let done = ops
        .post(
            "/console/events/replay",
            &[
                ("csrf", &confirm.csrf()),
                ("status", "FAILED"),
                ("provider", ""),
                ("received_from", &from),
                ("received_to", &to),
            ],
        )
        .await;
    assert_eq!(done.status, 200, "{}", done.body);
    let statuses: Vec<EventStatus> = ids.iter().map(|id| status_of(&api, *id)).collect();
    assert_eq!(
        statuses,
        [
            EventStatus::Failed,
            EventStatus::Received,
            EventStatus::Received,
            EventStatus::Failed
        ]
    );
    // One payment's events: all of them, and no bulk replay (that goes by status and time).
    let one = ops
        .get("/console/events?status=FAILED&request_ref=REQ-T")
        .await;
    assert_eq!(one.status, 200, "{}", one.body);
    assert_eq!(one.body.matches("evt-time-").count(), 2, "{}", one.body);
    assert!(
        !one.body.contains("/console/events/replay?"),
        "{}",
        one.body
    );
    let none = ops.get("/console/events?request_ref=REQ-OTHER").await;
    assert!(none.body.contains("No event matches."), "{}", none.body);
    let bad = ops.get("/console/events?received_to=soon").await;
    assert_eq!(bad.status, 422);
    assert!(bad.body.contains("received to"), "{}", bad.body);
}

/// Adds one minute's counts: (provider, outcome, count), `minutes_ago` before this one.
fn counted(api: &TestApi, minutes_ago: i64, rows: &[(&str, &str, i64)]) {
    let minute = minute_of(now()) - TimeDelta::minutes(minutes_ago);
    let rows: Vec<IntakeCount> = rows
        .iter()
        .map(|(provider, outcome, count)| IntakeCount {
            minute,
            provider: (*provider).to_owned(),
            outcome: (*outcome).to_owned(),
            count: *count,
        })
        .collect();
    add_intake_counts(&mut api.pool.get().unwrap(), &rows).unwrap();
}

async fn the_overview_draws_the_last_hour_and_its_lag(api: TestApi) {
    let mut reader = Browser::signed_in(&api, READER_KEY).await;
    let empty = reader.get("/console/").await;
    assert_eq!(empty.status, 200);
    assert!(
        empty
            .body
            .contains(r#"<meta http-equiv="refresh" content="15">"#),
        "it refreshes by itself"
    );
    assert!(empty.body.contains("reloads itself every 15 seconds"));
    assert!(empty
        .body
        .contains("No event was settled in the last 15 minutes"));
    assert!(
        empty.body.contains("<figcaption><b>paystack</b>"),
        "the configured provider's chart"
    );
    assert!(!empty.body.contains("<rect"), "nothing to draw yet");

    // Ten events settled 1 to 10 s after they arrived, and two still waiting.
    let payload = json!({});
    let arrived = now() - TimeDelta::minutes(2);
    for n in 1..=10 {
        let key = format!("lag-{n}");
        let new = NewWebhookEvent::received("paystack", None, &key, None, &payload, None, arrived);
        let id = record_event(&mut api.pool.get().unwrap(), &new)
            .unwrap()
            .event()
            .id;
        let settled = arrived + TimeDelta::seconds(n);
        mark_failed(&mut api.pool.get().unwrap(), id, "settled", settled).unwrap();
    }
    for n in 0..2 {
        let key = format!("waiting-{n}");
        let new = NewWebhookEvent::received("paystack", None, &key, None, &payload, None, now());
        record_event(&mut api.pool.get().unwrap(), &new).unwrap();
    }
    counted(
        &api,
        0,
        &[
            ("paystack", "accepted", 40),
            ("paystack", "invalid_signature", 2),
        ],
    );
    counted(
        &api,
        5,
        &[
            ("paystack", "duplicate", 3),
            ("(unknown)", "unknown_provider", 7),
        ],
    );
    // Names and outcomes come from the database: a hostile one is drawn as text.
    counted(&api, 1, &[(HOSTILE, "storage_unavailable", 1)]);
    counted(&api, 90, &[("paystack", "accepted", 1000)]);

    let page = reader.get("/console/").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let body = &page.body;
    assert!(body.contains("<svg viewBox=\"0 0 600 120\""), "{body}");
    for class in ["k-accepted", "k-duplicate", "k-refused", "k-unavailable"] {
        assert!(
            body.contains(&format!(r#"<rect class="{class}""#)),
            "{class}: {body}"
        );
    }
    assert!(
        body.contains("UTC: 40 accepted, 2 refused</title>"),
        "{body}"
    );
    assert!(
        body.contains("peak 42 a minute"),
        "the hour-old minute is not drawn: {body}"
    );
    assert!(body.contains("<figcaption><b>(unknown)</b>"), "{body}");
    assert!(!body.contains(HOSTILE), "escaped");
    assert!(shown(body).contains(&format!("<figcaption><b>{HOSTILE}</b>")));
    assert!(!body.contains("style="), "no inline style under the CSP");
    assert!(!body.to_lowercase().contains("<script"), "no script");
    // Nearest rank over 1..=10 s: p50 the 5th, p90 the 9th, p99 the 10th.
    for figure in [
        "<dt>p50</dt><dd>5.0 s</dd>",
        "<dt>p90</dt><dd>9.0 s</dd>",
        "<dt>p99</dt><dd>10.0 s</dd>",
    ] {
        assert!(body.contains(figure), "{figure}: {body}");
    }
    assert!(body.contains("Over the 10 events settled"), "{body}");
    assert!(
        body.contains("<span>Queue depth (RECEIVED)</span><b>2</b>"),
        "{body}"
    );
    assert!(
        body.contains("<span>Failed events</span><b>10</b>"),
        "{body}"
    );

    // A failure shows on the next load; the whole-table totals wait for their minute.
    let totals = |body: &str| {
        let start = body.find("<h2>Events by status</h2>").unwrap();
        body[start..start + body[start..].find("</table>").unwrap()].to_owned()
    };
    let key = "failed-late";
    let new = NewWebhookEvent::received("paystack", None, key, None, &payload, None, now());
    let id = record_event(&mut api.pool.get().unwrap(), &new)
        .unwrap()
        .event()
        .id;
    mark_failed(&mut api.pool.get().unwrap(), id, "late", now()).unwrap();
    let again = reader.get("/console/").await;
    assert!(
        again.body.contains("<span>Failed events</span><b>11</b>"),
        "{}",
        again.body
    );
    assert_eq!(totals(&again.body), totals(body), "counted once a minute");
    assert!(again
        .body
        .contains("counted again at most every 60 seconds"));
}

async fn the_providers_page_shows_each_ones_answers(api: TestApi) {
    let mut reader = Browser::signed_in(&api, READER_KEY).await;
    let quiet = reader.get("/console/providers").await;
    assert_eq!(quiet.status, 200);
    assert!(
        quiet.body.contains("<code>PAYSTACK_SECRET</code>"),
        "the secret's variable name"
    );
    assert!(quiet.body.contains("Answers in the last 60 minutes"));

    counted(
        &api,
        0,
        &[
            ("paystack", "accepted", 30),
            ("paystack", "invalid_signature", 6),
        ],
    );
    counted(
        &api,
        10,
        &[
            ("paystack", "duplicate", 2),
            ("paystack", "timestamp_out_of_tolerance", 2),
            ("(unknown)", "unknown_provider", 5),
        ],
    );
    counted(&api, 3, &[("paystack", HOSTILE, 1)]);
    counted(&api, 61, &[("paystack", "invalid_signature", 500)]);
    let page = reader.get("/console/providers").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let text = shown(&page.body);
    // 30 accepted, 2 duplicates, 9 refused (6 + 2 + 1), none unavailable: 9 of 41 refused.
    assert!(
        text.contains(
            "<td>paystack</td>\n  <td class=\"n\">30</td>\n  <td class=\"n\">2</td>\n  \
             <td class=\"n\">9</td>\n  <td class=\"n\">0</td>\n  <td class=\"n refusal\">22.0 %</td>"
        ),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "<code>invalid_signature</code> 6, <code>timestamp_out_of_tolerance</code> 2, \
             <code>{HOSTILE}</code> 1"
        )),
        "{text}"
    );
    assert!(
        !page.body.contains(HOSTILE),
        "an outcome from the database is escaped"
    );
    assert!(
        text.contains("<td>(unknown) <small>(every name that is not configured)</small></td>"),
        "{text}"
    );
    assert!(
        text.contains("<td class=\"n refusal\">100.0 %</td>"),
        "every unknown name is refused"
    );
}
