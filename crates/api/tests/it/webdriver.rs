//! Just enough of a W3C WebDriver client to drive headless Chromium through `chromedriver`: a
//! session, navigation, finding elements by CSS selector, typing, clicking, reading text and
//! attributes, cookies, alerts and screenshots. Blocking (ureq), like the rest of the tests'
//! HTTP; the browser tests call it from `spawn_blocking`.
//!
//! Written here rather than taken from a crate: the protocol is JSON over HTTP, the dozen
//! commands below are all the tests use, and a WebDriver crate would bring an async HTTP stack of
//! its own into a workspace that builds on two cores.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};

/// The key W3C WebDriver gives an element reference under.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Where Debian's packages put them; `CHROMEDRIVER` and `CHROMIUM` override.
fn program(var: &str, default: &str) -> PathBuf {
    std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(default))
}

/// A running `chromedriver` and one browser session in it; both end on drop.
pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    agent: ureq::Agent,
    _profile: tempfile::TempDir,
}

#[derive(Debug, Clone)]
pub struct Element(String);

/// A WebDriver command's failure: the `error` code (`no such element`, `no such alert`...) and
/// the driver's message.
#[derive(Debug)]
pub struct Refused {
    pub error: String,
    pub message: String,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium, or says why it cannot.
    pub fn start() -> Result<Browser, String> {
        let driver_path = program("CHROMEDRIVER", "/usr/bin/chromedriver");
        let chromium = program("CHROMIUM", "/usr/bin/chromium");
        for path in [&driver_path, &chromium] {
            if !path.exists() {
                return Err(format!(
                    "{} not found (Debian packages chromium and chromium-driver; \
                     .ci/run installs them)",
                    path.display()
                ));
            }
        }
        // chromedriver takes no port 0: take a free port from the kernel and hand it over.
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let driver = Command::new(&driver_path)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("{}: {e}", driver_path.display()))?;
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(60)))
            .http_status_as_error(false)
            .build()
            .into();
        let profile = tempfile::tempdir().map_err(|e| e.to_string())?;
        let mut browser = Browser {
            driver,
            base: format!("http://127.0.0.1:{port}"),
            session: String::new(),
            agent,
            _profile: profile,
        };
        let started = Instant::now();
        loop {
            let ready = browser
                .raw("GET", "/status", None)
                .ok()
                .is_some_and(|v| v["ready"] == true);
            if ready {
                break;
            }
            if let Ok(Some(status)) = browser.driver.try_wait() {
                return Err(format!("chromedriver exited at start: {status}"));
            }
            if started.elapsed() > Duration::from_secs(20) {
                return Err("chromedriver did not become ready within 20 s".into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let capabilities = json!({
            "capabilities": {"alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {
                    "binary": chromium.to_string_lossy(),
                    "args": [
                        "--headless=new",
                        // Tests run as root in containers, where the sandbox cannot start.
                        "--no-sandbox",
                        "--disable-dev-shm-usage",
                        "--disable-gpu",
                        "--no-first-run",
                        "--window-size=1280,900",
                        format!("--user-data-dir={}", browser._profile.path().display()),
                    ],
                },
            }}
        });
        let created = browser
            .raw("POST", "/session", Some(capabilities))
            .map_err(|r| format!("Chromium did not start: {}: {}", r.error, r.message))?;
        browser.session = created["sessionId"]
            .as_str()
            .ok_or_else(|| format!("no session id in {created}"))?
            .to_owned();
        Ok(browser)
    }

    fn raw(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, Refused> {
        let url = format!("{}{path}", self.base);
        let request = ureq::http::Request::builder()
            .method(method)
            .uri(&url)
            .header("Content-Type", "application/json");
        let sent = match body {
            Some(body) => self
                .agent
                .run(request.body(body.to_string().into_bytes()).unwrap()),
            None if method == "POST" => self.agent.run(request.body(b"{}".to_vec()).unwrap()),
            None => self.agent.run(request.body(()).unwrap()),
        };
        let mut response = sent.map_err(|e| Refused {
            error: "transport".into(),
            message: format!("{method} {url}: {e}"),
        })?;
        let text = response.body_mut().read_to_string().unwrap_or_default();
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let value = value.get("value").cloned().unwrap_or(Value::Null);
        match value.get("error").and_then(Value::as_str) {
            Some(error) => Err(Refused {
                error: error.to_owned(),
                message: value["message"].as_str().unwrap_or_default().to_owned(),
            }),
            None => Ok(value),
        }
    }

    /// A command in this session; a refusal fails the test with the driver's words.
    fn command(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.try_command(method, path, body)
            .unwrap_or_else(|r| panic!("{method} {path}: {}: {}", r.error, r.message))
    }

    fn try_command(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, Refused> {
        self.raw(method, &format!("/session/{}{path}", self.session), body)
    }

    pub fn goto(&self, url: &str) {
        self.command("POST", "/url", Some(json!({ "url": url })));
    }

    pub fn url(&self) -> String {
        self.command("GET", "/url", None)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    pub fn title(&self) -> String {
        self.command("GET", "/title", None)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The page's DOM as the browser holds it now (not the bytes the server sent).
    pub fn source(&self) -> String {
        self.command("GET", "/source", None)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    pub fn find(&self, css: &str) -> Element {
        self.try_find(css).unwrap_or_else(|| {
            panic!(
                "no element {css:?} on {} ({})",
                self.url(),
                clip(&self.source())
            )
        })
    }

    pub fn try_find(&self, css: &str) -> Option<Element> {
        self.try_command(
            "POST",
            "/element",
            Some(json!({"using": "css selector", "value": css})),
        )
        .ok()
        .map(|v| element(&v))
    }

    pub fn find_all(&self, css: &str) -> Vec<Element> {
        self.command(
            "POST",
            "/elements",
            Some(json!({"using": "css selector", "value": css})),
        )
        .as_array()
        .map(|all| all.iter().map(element).collect())
        .unwrap_or_default()
    }

    /// Clicks an element that leaves the page (a link, a form's button) and waits for the next
    /// page to load: chromedriver may answer the click before a form's navigation has begun.
    pub fn click(&self, element: &Element) {
        let old = self.find("html");
        self.command("POST", &format!("/element/{}/click", element.0), None);
        let started = Instant::now();
        loop {
            // The old document's root is stale once the next page replaced it (Chromium says so
            // as "stale element reference", or, mid-swap, that the node left the document).
            let gone = match self.try_command("GET", &format!("/element/{}/name", old.0), None) {
                Ok(_) => false,
                Err(r) if r.error == "transport" => panic!("after a click: {}", r.message),
                Err(_) => true,
            };
            if gone && self.ready() {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "a click on {} led nowhere within 20 s",
                self.url()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Clicks an element that stays on the page (a `<summary>`, a field).
    pub fn click_here(&self, element: &Element) {
        self.command("POST", &format!("/element/{}/click", element.0), None);
    }

    fn ready(&self) -> bool {
        self.try_command(
            "POST",
            "/execute/sync",
            Some(json!({"script": "return document.readyState", "args": []})),
        )
        .is_ok_and(|state| state == "complete")
    }

    pub fn type_into(&self, element: &Element, text: &str) {
        self.command(
            "POST",
            &format!("/element/{}/value", element.0),
            Some(json!({ "text": text })),
        );
    }

    /// The element's rendered text: what a person reads on the screen.
    pub fn text(&self, element: &Element) -> String {
        self.command("GET", &format!("/element/{}/text", element.0), None)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    pub fn attribute(&self, element: &Element, name: &str) -> Option<String> {
        self.command(
            "GET",
            &format!("/element/{}/attribute/{name}", element.0),
            None,
        )
        .as_str()
        .map(str::to_owned)
    }

    /// The text of the whole page's body.
    pub fn body_text(&self) -> String {
        let body = self.find("body");
        self.text(&body)
    }

    /// The cookie as the browser stores it (name, value, httpOnly, secure, sameSite...).
    pub fn cookie(&self, name: &str) -> Option<Value> {
        self.try_command("GET", &format!("/cookie/{name}"), None)
            .ok()
    }

    /// The text of an open alert/confirm/prompt dialog, if a page opened one.
    pub fn alert(&self) -> Option<String> {
        match self.try_command("GET", "/alert/text", None) {
            Ok(text) => Some(text.as_str().unwrap_or_default().to_owned()),
            Err(r) if r.error == "no such alert" => None,
            Err(r) => panic!("alert: {}: {}", r.error, r.message),
        }
    }

    /// Saves a PNG of the viewport.
    pub fn screenshot(&self, path: &Path) {
        let data = self.command("GET", "/screenshot", None);
        let png = STANDARD
            .decode(data.as_str().unwrap_or_default())
            .expect("a base64 screenshot");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(path, png).unwrap();
    }

    /// Reloads `url` until `done(body text)` holds, for up to `within`.
    pub fn wait_for(&self, url: &str, within: Duration, done: impl Fn(&str) -> bool) -> String {
        let started = Instant::now();
        loop {
            self.goto(url);
            let text = self.body_text();
            if done(&text) {
                return text;
            }
            assert!(
                started.elapsed() < within,
                "{url} did not change within {within:?}; it shows:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

fn element(value: &Value) -> Element {
    Element(
        value[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("not an element: {value}"))
            .to_owned(),
    )
}

fn clip(text: &str) -> &str {
    let end = text
        .char_indices()
        .nth(2000)
        .map_or(text.len(), |(at, _)| at);
    &text[..end]
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self.raw("DELETE", &format!("/session/{}", self.session), None);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
