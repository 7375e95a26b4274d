//! docs/providers.md lists, in order, where the `generic` preset looks for each field; operators
//! write `fields` overrides from it. This test keeps that page equal to `FieldMap::generic()`.

use domain::extract::FieldPath;
use domain::FieldMap;

const PROVIDERS: &str = include_str!("../../../docs/providers.md");

/// The bullet `- {field}…: `a`, `b`, …` of the "Generic field lists" section, as paths.
fn documented(field: &str) -> Vec<FieldPath> {
    let start = PROVIDERS
        .find("## Generic field lists\n")
        .expect("docs/providers.md has a \"Generic field lists\" section");
    let section = &PROVIDERS[start..];
    let section = &section[..section[3..]
        .find("\n## ")
        .map_or(section.len(), |end| end + 3)];
    let item = section
        .split("\n- ")
        .find(|item| {
            item.strip_prefix(field)
                .is_some_and(|rest| rest.starts_with([':', ' ']))
        })
        .unwrap_or_else(|| panic!("no list for {field} in docs/providers.md"));
    item.split('`')
        .skip(1)
        .step_by(2)
        .map(|path| FieldPath::parse(path).expect("a dotted path"))
        .collect()
}

#[test]
fn the_generic_field_lists_in_the_docs_are_the_presets() {
    let generic = FieldMap::generic();
    let lists = [
        ("event_id", &generic.event_id),
        ("request_ref", &generic.request_ref),
        ("provider_ref", &generic.provider_ref),
        ("status", &generic.status),
        ("amount", &generic.amount),
        ("currency", &generic.currency),
    ];
    for (field, code) in lists {
        assert_eq!(&documented(field), code, "{field}");
    }
}
