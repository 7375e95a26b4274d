//! Console sessions, kept in the database (`console_sessions`) so that every api replica serves
//! every session and a sign-out on one ends it on all. The browser holds a random id in a cookie;
//! the table holds the id's SHA-256, the key's name and which of its secrets signed in. The key
//! itself is never kept, scopes are read from the configuration on every request, and the CSRF
//! token is derived from the id. A database that cannot answer is a 503, never a sign-out.

use std::future::Future;
use std::pin::Pin;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use domain::console_session::{cutoffs, standing, Standing};
use hmac::{Hmac, Mac};
use inbox_config::Scope;
use persistence::{
    close_session, find_session, now, open_session, run_blocking, touch_session, ConsoleSession,
    DbPool, NewConsoleSession, StoreError,
};
use rand::RngCore;
use sha2::{Digest, Sha256};

pub use domain::console_session::{IDLE, LIFETIME};

use super::error::ConsoleError;
use super::{csrf, Console};
use crate::auth::{Caller, KeyIdentity, Keys};
use crate::state::AppState;

/// The session cookie's name.
pub const COOKIE: &str = "inbox_console";
/// More open sessions than this and the least recently used go at the next sign-in: the table
/// stays bounded whatever signs in.
const MAX_SESSIONS: i64 = 10_000;

/// 32 bytes from the operating system's generator, seeded into `rand`'s CSPRNG, URL-safe.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// What `random_token` makes: 43 URL-safe characters. Anything else in the cookie is not an id
/// of ours and costs no database round trip.
fn well_formed(id: &str) -> bool {
    id.len() == 43
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The id as the table stores it: a copy of the table (a backup, a replica, a read-only role)
/// must not be a list of cookies that open sessions.
fn id_hash(id: &str) -> String {
    hex::encode(Sha256::digest(id.as_bytes()))
}

/// The session's CSRF token: an HMAC of a fixed label keyed with the session id. Derived rather
/// than stored: no column to keep in step, nothing per replica (any replica computes the same
/// token), a new token with every sign-in, and no way back from token to id (a token is printed
/// in every form; the id never leaves the cookie). Someone holding only the table cannot make a
/// token either: it stores the id's SHA-256, not the id.
fn csrf_token(id: &str) -> String {
    // HMAC takes keys of any length, so this cannot fail; were it ever to, the empty token
    // matches nothing (`csrf::matches`) and every form is refused rather than accepted.
    match Hmac::<Sha256>::new_from_slice(id.as_bytes()) {
        Ok(mut mac) => {
            mac.update(b"inbox console csrf v1");
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        }
        Err(_) => String::new(),
    }
}

/// A new session for the key that just signed in, always with a new id (an id known before
/// sign-in is never promoted). Sessions that are over are deleted on the way. Returns the id
/// for the cookie.
pub async fn open(pool: &DbPool, key: KeyIdentity) -> Result<String, StoreError> {
    let id = random_token();
    let hash = id_hash(&id);
    run_blocking(pool, move |conn| {
        let at = now();
        let new = NewConsoleSession {
            id_hash: &hash,
            key_name: &key.name,
            key_fingerprint: &key.fingerprint,
            at,
        };
        open_session(conn, &new, cutoffs(at), MAX_SESSIONS)
    })
    .await?;
    Ok(id)
}

/// Ends the session everywhere: every replica looks it up in the same table.
pub async fn close(pool: &DbPool, id: &str) -> Result<(), StoreError> {
    let hash = id_hash(id);
    run_blocking(pool, move |conn| close_session(conn, &hash).map(drop)).await
}

/// What to do with a stored session on a request.
#[derive(Debug)]
enum Verdict {
    /// Serve the request as `caller`; `touch` when the stored last use is due to move.
    Serve { caller: Caller, touch: bool },
    /// Over by time: delete the row.
    End,
    /// The key, or the secret that signed in, is not in this replica's configuration (or the
    /// key lost `read`): refused, but the row is left alone. During a rolling deploy that adds
    /// a key, an old replica must not delete the sessions the new ones opened; a key really
    /// gone leaves rows that idle out and are purged.
    Refuse,
}

fn verdict(session: &ConsoleSession, keys: &Keys, now: DateTime<Utc>) -> Verdict {
    match standing(session.started_at, session.last_seen_at, now) {
        Standing::Idle | Standing::Expired => Verdict::End,
        Standing::Live { touch } => {
            match keys
                .of_session(&session.key_name, &session.key_fingerprint)
                .filter(|caller| caller.has(Scope::Read))
            {
                Some(caller) => Verdict::Serve {
                    caller: caller.clone(),
                    touch,
                },
                None => Verdict::Refuse,
            }
        }
    }
}

/// The caller of the live session with this id, its last use recorded when due (at most once
/// a minute, `domain::console_session::TOUCH_EVERY`: a page view is then a read, not a write).
async fn load(state: web::Data<AppState>, id: &str) -> Result<Option<Caller>, StoreError> {
    let hash = id_hash(id);
    let pool = state.pool.clone();
    run_blocking(&pool, move |conn| {
        let Some(session) = find_session(conn, &hash)? else {
            return Ok(None);
        };
        let at = now();
        match verdict(&session, &state.keys, at) {
            Verdict::Serve { caller, touch } => {
                if touch {
                    touch_session(conn, &hash, at)?;
                }
                Ok(Some(caller))
            }
            Verdict::End => {
                close_session(conn, &hash)?;
                Ok(None)
            }
            Verdict::Refuse => Ok(None),
        }
    })
    .await
}

/// A signed-in operator: the extractor of every console page but the sign-in page. Without a
/// live session the request is sent to `/console/login`; when the database cannot say, 503.
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
    type Future = Pin<Box<dyn Future<Output = Result<Operator, ConsoleError>>>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = request.app_data::<web::Data<AppState>>().cloned();
        let id = request
            .cookie(COOKIE)
            .map(|c| c.value().to_owned())
            .filter(|id| well_formed(id));
        Box::pin(async move {
            let (Some(state), Some(id)) = (state, id) else {
                return Err(ConsoleError::SignIn);
            };
            let caller = load(state, &id).await?.ok_or(ConsoleError::SignIn)?;
            Ok(Operator {
                csrf: csrf_token(&id),
                session: id,
                caller,
            })
        })
    }
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
    use chrono::TimeDelta;
    use inbox_config::ApiKey;
    use secrecy::SecretString;

    use super::*;

    const OPS: &str = "ops-key-0123456789abcdefgh";

    fn keys(name: &str, scopes: &[Scope]) -> Keys {
        Keys::new(&[ApiKey {
            name: name.into(),
            scopes: scopes.to_vec(),
            secrets: vec![SecretString::from(OPS.to_owned())],
        }])
    }

    fn stored(
        keys: &Keys,
        started_at: DateTime<Utc>,
        last_seen_at: DateTime<Utc>,
    ) -> ConsoleSession {
        let (_, key) = keys.sign_in(OPS).unwrap();
        ConsoleSession {
            id_hash: id_hash(&random_token()),
            key_name: key.name.to_string(),
            key_fingerprint: key.fingerprint,
            started_at,
            last_seen_at,
        }
    }

    #[test]
    fn a_live_session_is_served_with_todays_scopes_and_touched_at_most_once_a_minute() {
        let ops = keys("ops", &[Scope::Read, Scope::Admin]);
        let start = now();
        let session = stored(&ops, start, start);
        let at = |seconds| start + TimeDelta::seconds(seconds);
        match verdict(&session, &ops, at(30)) {
            Verdict::Serve { caller, touch } => {
                assert_eq!(&*caller.name, "ops");
                assert!(caller.has(Scope::Admin));
                assert!(!touch, "used within the minute: no write");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            verdict(&session, &ops, at(61)),
            Verdict::Serve { touch: true, .. }
        ));
        let narrowed = keys("ops", &[Scope::Read]);
        match verdict(&session, &narrowed, at(30)) {
            Verdict::Serve { caller, .. } => assert!(!caller.has(Scope::Admin)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_session_ends_by_time_and_is_refused_without_its_key() {
        let ops = keys("ops", &[Scope::Read]);
        let start = now();
        let session = stored(&ops, start, start);
        assert!(matches!(
            verdict(&session, &ops, start + IDLE),
            Verdict::End
        ));
        let used = stored(&ops, start, start + LIFETIME - TimeDelta::seconds(1));
        assert!(matches!(
            verdict(&used, &ops, start + LIFETIME),
            Verdict::End
        ));
        let renamed = keys("operations", &[Scope::Read]);
        assert!(matches!(
            verdict(&session, &renamed, start),
            Verdict::Refuse
        ));
        let other_secret = Keys::new(&[ApiKey {
            name: "ops".into(),
            scopes: vec![Scope::Read],
            secrets: vec![SecretString::from("rotated-ops-key-0123456789".to_owned())],
        }]);
        assert!(matches!(
            verdict(&session, &other_secret, start),
            Verdict::Refuse
        ));
        let no_read = keys("ops", &[Scope::Admin]);
        assert!(matches!(
            verdict(&session, &no_read, start),
            Verdict::Refuse
        ));
    }

    #[test]
    fn ids_are_new_and_well_formed_and_only_their_hash_and_token_are_shown() {
        let (a, b) = (random_token(), random_token());
        assert_ne!(a, b);
        assert!(well_formed(&a));
        assert!(!well_formed("not-a-session"));
        assert!(!well_formed(&format!("{}=", &a[..42])));
        assert_eq!(id_hash(&a).len(), 64);
        assert_eq!(
            csrf_token(&a),
            csrf_token(&a),
            "every replica derives the same token"
        );
        assert_ne!(csrf_token(&a), csrf_token(&b));
        assert_ne!(csrf_token(&a), a);
        assert!(csrf::matches(&csrf_token(&a), &csrf_token(&a)));
    }
}
