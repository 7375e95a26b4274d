//! Console sessions: a random id in a cookie, the signed-in key's name and scopes and the
//! session's CSRF token on the server, in this process's memory. The key itself is never kept:
//! it is checked once at sign-in. Sessions end on sign-out, after `IDLE` without a request, after
//! `LIFETIME` whatever happens, and when the process restarts.

use std::collections::HashMap;
use std::future::{ready, Ready};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use inbox_config::Scope;
use rand::RngCore;

use super::error::ConsoleError;
use super::{csrf, Console};
use crate::auth::Caller;

/// The session cookie's name.
pub const COOKIE: &str = "inbox_console";
/// A session unused this long is over.
pub const IDLE: Duration = Duration::from_secs(30 * 60);
/// A session is over this long after sign-in, used or not.
pub const LIFETIME: Duration = Duration::from_secs(12 * 60 * 60);
/// More live sessions than this and the oldest is dropped: memory stays bounded whatever
/// signs in.
const MAX_SESSIONS: usize = 10_000;

/// 32 bytes from the operating system's generator, seeded into `rand`'s CSPRNG, URL-safe.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

#[derive(Debug, Clone)]
struct Session {
    caller: Caller,
    csrf: String,
    started: Instant,
    last_seen: Instant,
}

impl Session {
    fn live(&self, now: Instant) -> bool {
        now.duration_since(self.last_seen) < IDLE && now.duration_since(self.started) < LIFETIME
    }
}

#[derive(Default)]
pub struct Sessions {
    by_id: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    fn locked(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        // A panic elsewhere while holding the lock leaves a usable map: every update is one
        // insert or remove.
        self.by_id.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new session for `caller`, always with a new id (an id known before sign-in is never
    /// promoted). Returns the id for the cookie.
    pub fn open(&self, caller: Caller) -> String {
        self.open_at(caller, Instant::now())
    }

    fn open_at(&self, caller: Caller, now: Instant) -> String {
        let id = random_token();
        let mut sessions = self.locked();
        sessions.retain(|_, s| s.live(now));
        if sessions.len() >= MAX_SESSIONS {
            if let Some(oldest) = sessions
                .iter()
                .min_by_key(|(_, s)| s.last_seen)
                .map(|(id, _)| id.clone())
            {
                sessions.remove(&oldest);
            }
        }
        sessions.insert(
            id.clone(),
            Session {
                caller,
                csrf: random_token(),
                started: now,
                last_seen: now,
            },
        );
        id
    }

    /// The live session with this id, its idle clock restarted.
    fn find_at(&self, id: &str, now: Instant) -> Option<Session> {
        let mut sessions = self.locked();
        let session = sessions.get_mut(id)?;
        if !session.live(now) {
            sessions.remove(id);
            return None;
        }
        session.last_seen = now;
        Some(session.clone())
    }

    pub fn close(&self, id: &str) {
        self.locked().remove(id);
    }
}

/// A signed-in operator: the extractor of every console page but the sign-in page. Without a
/// live session the request is sent to `/console/login`.
pub struct Operator {
    pub session: String,
    pub caller: Caller,
    csrf: String,
}

impl Operator {
    pub fn csrf(&self) -> &str {
        &self.csrf
    }

    pub fn is_admin(&self) -> bool {
        self.caller.has(Scope::Admin)
    }

    /// Every POST of the console: the form's token must be this session's (403 otherwise).
    pub fn check_csrf(&self, given: &str) -> Result<(), ConsoleError> {
        if csrf::matches(&self.csrf, given) {
            Ok(())
        } else {
            Err(ConsoleError::Csrf)
        }
    }

    pub fn require(&self, scope: Scope) -> Result<(), ConsoleError> {
        if self.caller.has(scope) {
            Ok(())
        } else {
            Err(ConsoleError::Forbidden(scope))
        }
    }
}

impl FromRequest for Operator {
    type Error = ConsoleError;
    type Future = Ready<Result<Operator, ConsoleError>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(signed_in(request))
    }
}

fn signed_in(request: &HttpRequest) -> Result<Operator, ConsoleError> {
    let console = request
        .app_data::<web::Data<Console>>()
        .ok_or(ConsoleError::SignIn)?;
    let id = request.cookie(COOKIE).ok_or(ConsoleError::SignIn)?;
    let session = console
        .sessions
        .find_at(id.value(), Instant::now())
        .ok_or(ConsoleError::SignIn)?;
    Ok(Operator {
        session: id.value().to_owned(),
        caller: session.caller,
        csrf: session.csrf,
    })
}

/// A console cookie: HttpOnly, SameSite=Strict, scoped to `/console`, and Secure when the
/// request came over TLS (as the proxy in front says) or configuration asks for it.
pub fn cookie(
    request: &HttpRequest,
    console: &Console,
    name: &'static str,
    value: String,
) -> Cookie<'static> {
    let secure = console.secure_cookie
        || request
            .connection_info()
            .scheme()
            .eq_ignore_ascii_case("https");
    Cookie::build(name, value)
        .path("/console")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .finish()
}

/// The same cookie, expired: what sign-out sends.
pub fn removal(request: &HttpRequest, console: &Console, name: &'static str) -> Cookie<'static> {
    let mut cookie = cookie(request, console, name, String::new());
    cookie.make_removal();
    cookie
}

#[cfg(test)]
mod tests {
    use inbox_config::ApiKey;
    use secrecy::SecretString;

    use super::*;
    use crate::auth::Keys;

    fn caller() -> Caller {
        let keys = Keys::new(&[ApiKey {
            name: "ops".into(),
            scopes: vec![Scope::Read, Scope::Admin],
            secrets: vec![SecretString::from("ops-key-0123456789abcdefgh".to_owned())],
        }]);
        keys.caller("ops-key-0123456789abcdefgh").unwrap().clone()
    }

    #[test]
    fn a_session_lives_while_used_and_never_past_its_lifetime() {
        let sessions = Sessions::default();
        let start = Instant::now();
        let id = sessions.open_at(caller(), start);
        assert_ne!(
            id,
            sessions.open_at(caller(), start),
            "every sign-in is a new id"
        );
        let mut now = start;
        // Used every 20 minutes, it lives until its lifetime ends.
        while now.duration_since(start) + Duration::from_secs(20 * 60) < LIFETIME {
            now += Duration::from_secs(20 * 60);
            let found = sessions.find_at(&id, now).expect("live");
            assert_eq!(&*found.caller.name, "ops");
        }
        assert!(sessions.find_at(&id, start + LIFETIME).is_none());
        assert!(sessions.find_at(&id, now).is_none(), "removed once over");
    }

    #[test]
    fn an_idle_session_is_over_and_a_closed_one_is_gone() {
        let sessions = Sessions::default();
        let start = Instant::now();
        let idle = sessions.open_at(caller(), start);
        assert!(sessions.find_at(&idle, start + IDLE).is_none());
        let closed = sessions.open_at(caller(), start);
        sessions.close(&closed);
        assert!(sessions.find_at(&closed, start).is_none());
        assert!(sessions.find_at("not-a-session", start).is_none());
    }
}
