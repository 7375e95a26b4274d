//! The loader's layering and its error messages.

use std::collections::HashMap;
use std::io::Write;

use secrecy::ExposeSecret;

use crate::{load_from, ConfigError, LogFormat};

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn file(toml: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(toml.as_bytes()).unwrap();
    file
}

fn error_key(result: Result<crate::Loaded, ConfigError>) -> String {
    result.expect_err("configuration must be refused").key
}

#[test]
fn defaults_alone_are_valid() {
    let loaded = load_from(None, &env(&[])).unwrap();
    assert_eq!(
        loaded.settings.database.url.expose_secret(),
        "sqlite://var/inbox.db"
    );
    assert!(loaded.settings.redis.url.is_none());
    assert!(loaded.providers.is_empty());
}

#[test]
fn file_then_environment_then_conventional_variables() {
    let config = file(
        r#"
        [database]
        url = "sqlite://from-file.db"
        pool_size = 4
        [log]
        format = "json"
        [processor]
        batch_size = 20
        "#,
    );
    let loaded = load_from(
        Some(config.path()),
        &env(&[
            ("INBOX__PROCESSOR__BATCH_SIZE", "75"),
            ("DATABASE_URL", "postgres://app@db/inbox"),
            ("REDIS_URL", "redis://cache:6379"),
        ]),
    )
    .unwrap();
    let s = &loaded.settings;
    assert_eq!(s.processor.batch_size, 75, "environment beats the file");
    assert_eq!(s.database.pool_size, 4, "the file beats the defaults");
    assert_eq!(s.log.format, LogFormat::Json);
    assert_eq!(s.database.url.expose_secret(), "postgres://app@db/inbox");
    assert_eq!(
        s.redis.url.as_ref().unwrap().expose_secret(),
        "redis://cache:6379"
    );

    // The INBOX__ form wins over DATABASE_URL.
    let loaded = load_from(
        None,
        &env(&[
            ("INBOX__DATABASE__URL", "sqlite://explicit.db"),
            ("DATABASE_URL", "postgres://app@db/inbox"),
        ]),
    )
    .unwrap();
    assert_eq!(
        loaded.settings.database.url.expose_secret(),
        "sqlite://explicit.db"
    );
}

#[test]
fn the_config_file_can_come_from_inbox_config() {
    let config = file("[receiver]\nbody_limit_bytes = 1024\n");
    let loaded = load_from(
        None,
        &env(&[("INBOX_CONFIG", config.path().to_str().unwrap())]),
    )
    .unwrap();
    assert_eq!(loaded.settings.receiver.body_limit_bytes, 1024);
    assert_eq!(loaded.file.as_deref(), Some(config.path()));
}

#[test]
fn bad_values_name_their_key() {
    assert_eq!(
        error_key(load_from(
            None,
            &env(&[("INBOX__PROCESSOR__BATCH_SIZE", "0")])
        )),
        "processor.batch_size"
    );
    assert_eq!(
        error_key(load_from(
            None,
            &env(&[("INBOX__PROCESSOR__BATCH_SIZE", "lots")])
        )),
        "processor.batch_size"
    );
    assert_eq!(
        error_key(load_from(
            None,
            &env(&[("INBOX__PROCESSOR__LEASE_SECS", "99999999999")])
        )),
        "processor.lease_secs"
    );
    assert_eq!(
        error_key(load_from(None, &env(&[("DATABASE_URL", "mysql://x/y")]))),
        "database.url"
    );
    assert_eq!(
        error_key(load_from(None, &env(&[("REDIS_URL", "http://cache")]))),
        "redis.url"
    );
    let missing = std::path::Path::new("/nonexistent/inbox.toml");
    assert_eq!(error_key(load_from(Some(missing), &env(&[]))), "config");
    let unknown = file("[receiver]\nbody_limit = 5\n");
    let err = load_from(Some(unknown.path()), &env(&[])).unwrap_err();
    assert!(err.to_string().contains("body_limit"), "{err}");
}

#[test]
fn providers_read_their_secrets_from_the_environment() {
    let config = file(
        r#"
        [providers.paystack]
        preset = "paystack"
        secrets = ["PAYSTACK_SECRET", "PAYSTACK_SECRET_OLD"]

        [providers.legacy]
        preset = "generic"
        signature = "none"

        [providers.custom]
        preset = "generic"
        signature = { scheme = "hmac", algorithm = "sha256", encoding = "base64", headers = ["x-sig"] }
        secrets = ["CUSTOM_SECRET"]
        fields = { request_ref = ["data.order.ref"] }
        "#,
    );
    let loaded = load_from(
        Some(config.path()),
        &env(&[
            ("PAYSTACK_SECRET", "sk_test_new"),
            ("PAYSTACK_SECRET_OLD", "sk_test_old"),
            ("CUSTOM_SECRET", "s3cret"),
        ]),
    )
    .unwrap();
    let paystack = &loaded.providers["paystack"];
    assert_eq!(paystack.secrets.len(), 2);
    assert!(!format!("{paystack:?}").contains("sk_test"));
    assert!(loaded.providers["legacy"].is_unsigned());
    let custom = &loaded.providers["custom"];
    let payload = serde_json::json!({"data": {"order": {"ref": "ORD-1"}}});
    let read = custom
        .payload
        .read(&payload, &domain::signature::Verified::default());
    assert_eq!(read.request_ref.as_deref(), Some("ORD-1"));

    let err = load_from(
        Some(config.path()),
        &env(&[("PAYSTACK_SECRET", "x"), ("CUSTOM_SECRET", "y")]),
    )
    .unwrap_err();
    assert_eq!(err.key, "providers.paystack.secrets");
    assert!(err.message.contains("PAYSTACK_SECRET_OLD"), "{err}");
}

#[test]
fn a_signed_provider_without_secrets_is_refused() {
    let config = file("[providers.stripe]\npreset = \"stripe\"\n");
    assert_eq!(
        error_key(load_from(Some(config.path()), &env(&[]))),
        "providers.stripe.secrets"
    );
    let bad_path = file(
        "[providers.g]\npreset = \"generic\"\nsignature = \"none\"\nfields = { status = [\"a..b\"] }\n",
    );
    assert_eq!(
        error_key(load_from(Some(bad_path.path()), &env(&[]))),
        "providers.g.fields.status"
    );
}

#[test]
fn the_example_file_loads_and_names_every_key() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../config/inbox.example.toml"
    );
    let secrets = env(&[
        ("PAYSTACK_SECRET_KEY", "sk_test_x"),
        ("STRIPE_WEBHOOK_SECRET", "whsec_a"),
        ("STRIPE_WEBHOOK_SECRET_PREVIOUS", "whsec_b"),
        ("SHOP_WEBHOOK_SECRET", "s"),
    ]);
    let loaded = load_from(Some(std::path::Path::new(path)), &secrets).unwrap();
    assert_eq!(loaded.providers.len(), 3);
    // Every key of every section appears in the example (commented out or set).
    let text = std::fs::read_to_string(path).unwrap();
    let defaults = toml_keys();
    // Tables of their own (`[api.keys.<name>]`) are shown as an example table instead.
    for key in defaults.into_iter().filter(|k| *k != "keys") {
        assert!(
            text.lines().any(|l| {
                let l = l.trim_start_matches(['#', ' ']);
                l.starts_with(&format!("{key} =")) || l.starts_with(&format!("{key}="))
            }),
            "config/inbox.example.toml does not document `{key}`"
        );
    }
}

/// The keys of every section, read from the section structs themselves.
fn toml_keys() -> Vec<&'static str> {
    use crate::{
        ApiSettings, DatabaseSettings, LogSettings, NotifySettings, ProcessorSettings,
        ReceiverSettings, RedisSettings,
    };
    [
        fields_of::<ApiSettings>(),
        fields_of::<NotifySettings>(),
        fields_of::<DatabaseSettings>(),
        fields_of::<RedisSettings>(),
        fields_of::<LogSettings>(),
        fields_of::<ReceiverSettings>(),
        fields_of::<ProcessorSettings>(),
    ]
    .concat()
}

/// The field names serde knows for a struct: they are handed to `deserialize_struct`, which this
/// deserializer captures before giving up.
fn fields_of<'de, T: serde::Deserialize<'de>>() -> Vec<&'static str> {
    use serde::de::{self, Visitor};
    struct Introspect<'a>(&'a mut Vec<&'static str>);
    impl<'de> de::Deserializer<'de> for Introspect<'_> {
        type Error = de::value::Error;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(de::Error::custom("not a struct"))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Self::Error> {
            self.0.extend_from_slice(fields);
            Err(de::Error::custom("fields captured"))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
            option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
            ignored_any
        }
    }
    let mut fields = Vec::new();
    let _ = T::deserialize(Introspect(&mut fields));
    assert!(!fields.is_empty(), "no fields found");
    fields
}

#[test]
fn the_configuration_doc_names_every_key_and_its_variable() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/configuration.md");
    let doc = std::fs::read_to_string(path).unwrap();
    use crate::{
        ApiSettings, DatabaseSettings, LogSettings, NotifySettings, ProcessorSettings,
        ReceiverSettings, RedisSettings,
    };
    let sections = [
        ("api", fields_of::<ApiSettings>()),
        ("notify", fields_of::<NotifySettings>()),
        ("database", fields_of::<DatabaseSettings>()),
        ("redis", fields_of::<RedisSettings>()),
        ("log", fields_of::<LogSettings>()),
        ("receiver", fields_of::<ReceiverSettings>()),
        ("processor", fields_of::<ProcessorSettings>()),
    ];
    for (section, keys) in sections {
        // Set in the file only (a table of tables, a list of variable names): their rows say
        // "(file only)" instead of a variable.
        let file_only = [("api", "keys"), ("notify", "secrets")];
        for key in keys
            .into_iter()
            .filter(|k| !file_only.contains(&(section, *k)))
        {
            let row = format!(
                "| `{key}` | `INBOX__{}__{}`",
                section.to_uppercase(),
                key.to_uppercase()
            );
            assert!(
                doc.contains(&row),
                "docs/configuration.md lacks the row for {section}.{key}"
            );
        }
    }
}

#[test]
fn amount_rules_can_be_set_per_provider() {
    let config = file(
        "[providers.shop]\npreset = \"generic\"\nsignature = \"none\"\n\
         amount_check = \"strict\"\namount_unit = \"minor\"\n\
         [providers.psk]\npreset = \"paystack\"\nsignature = \"none\"\n",
    );
    let loaded = load_from(Some(config.path()), &env(&[])).unwrap();
    let profiles = loaded.settings.payload_profiles();
    assert_eq!(profiles["shop"].amount_check, domain::AmountCheck::Strict);
    assert_eq!(profiles["shop"].amount_unit, domain::Unit::Minor);
    // The preset's when not set.
    assert_eq!(profiles["psk"].amount_check, domain::AmountCheck::Strict);
    let bad = file(
        "[providers.shop]\npreset = \"generic\"\nsignature = \"none\"\namount_check = \"loose\"\n",
    );
    assert!(error_key(load_from(Some(bad.path()), &env(&[]))).starts_with("providers.shop"));
}
