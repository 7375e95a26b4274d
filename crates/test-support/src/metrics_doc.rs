//! The metrics tables of `docs/operations.md` against what a service's `/metrics` exposes: every
//! metric registered is documented with its type and labels, and nothing documented is gone.

use std::collections::{BTreeMap, BTreeSet};

/// Metric name -> (type, label names).
pub type MetricList = BTreeMap<String, (String, BTreeSet<String>)>;

const OPERATIONS: &str = include_str!("../../../docs/operations.md");

/// The table under the heading `### {section}` of docs/operations.md (`metric | type | labels |
/// meaning`, names and labels in backticks, `-` for no labels).
pub fn documented(section: &str) -> MetricList {
    let heading = format!("### {section}\n");
    let start = OPERATIONS
        .find(&heading)
        .unwrap_or_else(|| panic!("docs/operations.md has no heading {heading:?}"));
    let rows = OPERATIONS[start + heading.len()..]
        .lines()
        .skip_while(|line| !line.starts_with('|'))
        .take_while(|line| line.starts_with('|'))
        .skip(2); // the header and its rule
    rows.map(|row| {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let name = cells[1].trim_matches('`').to_owned();
        let labels = cells[3]
            .split(',')
            .map(|label| label.trim().trim_matches('`'))
            .filter(|label| !label.is_empty() && *label != "-")
            .map(str::to_owned)
            .collect();
        (name, (cells[2].to_owned(), labels))
    })
    .collect()
}

/// What a Prometheus text exposition holds: names from `# TYPE`, labels from the samples
/// (without the `le` / `quantile` of histogram and summary series).
pub fn exposed(text: &str) -> MetricList {
    let mut list: MetricList = text
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.split_once(' '))
        .map(|(name, kind)| (name.to_owned(), (kind.to_owned(), BTreeSet::new())))
        .collect();
    for line in text.lines().filter(|line| !line.starts_with('#')) {
        let Some((series, labels)) = line.split_once('{') else {
            continue;
        };
        let name = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| series.strip_suffix(suffix))
            .filter(|base| list.contains_key(*base))
            .unwrap_or(series);
        let Some((_, names)) = list.get_mut(name) else {
            continue;
        };
        let labels = labels.split('}').next().unwrap_or("");
        for pair in labels.split(',').filter(|pair| !pair.is_empty()) {
            let label = pair.split('=').next().unwrap_or("").trim();
            if !["le", "quantile"].contains(&label) {
                names.insert(label.to_owned());
            }
        }
    }
    list
}

/// What marks a documented series that `/metrics` shows only once it has been counted (its
/// labels are not known before).
const ON_FIRST_COUNT: &str = "(appears once counted)";

/// Fails with both lists when `/metrics` and the docs' table disagree. A row whose meaning says
/// "(appears once counted)" may be absent; when present it must match.
pub fn assert_documented(section: &str, metrics_text: &str) {
    let exposed = exposed(metrics_text);
    let mut documented = documented(section);
    for name in lazy(section) {
        if !exposed.contains_key(&name) {
            documented.remove(&name);
        }
    }
    assert!(
        !documented.is_empty(),
        "no metrics documented under {section}"
    );
    assert_eq!(
        exposed, documented,
        "docs/operations.md \"{section}\" (right) does not list what /metrics exposes (left)"
    );
}

/// The names of the rows under `### {section}` marked as appearing once counted.
fn lazy(section: &str) -> Vec<String> {
    let heading = format!("### {section}\n");
    let Some(start) = OPERATIONS.find(&heading) else {
        return Vec::new();
    };
    OPERATIONS[start + heading.len()..]
        .lines()
        .skip_while(|line| !line.starts_with('|'))
        .take_while(|line| line.starts_with('|'))
        .filter(|row| row.contains(ON_FIRST_COUNT))
        .filter_map(|row| row.split('|').nth(1))
        .map(|cell| cell.trim().trim_matches('`').to_owned())
        .collect()
}
