//! Small per-minute bar charts, drawn on the server as inline SVG (`templates/console/chart.html`)
//! and stacked by series. Only integers and fixed class names go into attributes; every label is
//! written by askama, escaped like any other value. Never a script or an inline style: the CSP
//! forbids both, so colours come from the series' classes in console.css.

use chrono::{DateTime, TimeDelta, Utc};

/// The drawing's coordinate space (`viewBox`); CSS scales it to the page.
pub const WIDTH: i64 = 600;
pub const HEIGHT: i64 = 120;

/// One stacked series: its CSS class and its name in tooltips.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Series {
    pub class: &'static str,
    pub label: &'static str,
}

/// A chart as the template draws it.
#[derive(Debug)]
pub struct Chart {
    pub title: String,
    /// A sentence for screen readers (`aria-label`).
    pub summary: String,
    /// The tallest column's total: the top of the scale.
    pub peak: i64,
    pub columns: Vec<Column>,
    /// The first and last minutes drawn, for the axis ("10:05", "11:04").
    pub from: String,
    pub to: String,
}

/// One minute. Columns without counts are not drawn.
#[derive(Debug)]
pub struct Column {
    pub x: i64,
    pub width: i64,
    /// The tooltip: the minute and each series' count.
    pub label: String,
    pub bars: Vec<Bar>,
}

#[derive(Debug, PartialEq, Eq)]
pub struct Bar {
    pub class: &'static str,
    pub y: i64,
    pub height: i64,
}

impl Chart {
    /// `columns[m][s]` is series `s`'s count in minute `start + m`; series stack bottom up in
    /// the order given.
    pub fn stacked(
        title: &str,
        series: &[Series],
        start: DateTime<Utc>,
        columns: &[Vec<i64>],
    ) -> Chart {
        let peak = columns
            .iter()
            .map(|c| c.iter().map(|n| n.max(&0)).sum::<i64>())
            .max()
            .unwrap_or(0);
        let slot = WIDTH / (columns.len() as i64).max(1);
        let minute = |m: usize| start + TimeDelta::minutes(m as i64);
        let drawn = columns
            .iter()
            .enumerate()
            .filter(|(_, counts)| counts.iter().any(|n| *n > 0))
            .map(|(m, counts)| Column {
                x: m as i64 * slot,
                // A gap between neighbours, whatever the slot.
                width: (slot - slot / 5).max(1),
                label: tooltip(minute(m), series, counts),
                bars: stack(series, counts, peak),
            })
            .collect();
        let total: i64 = columns.iter().flatten().map(|n| n.max(&0)).sum();
        Chart {
            title: title.to_owned(),
            summary: format!(
                "{title}: {total} answers in {} minutes, at most {peak} in one minute",
                columns.len()
            ),
            peak,
            columns: drawn,
            from: minute(0).format("%H:%M").to_string(),
            to: minute(columns.len().saturating_sub(1))
                .format("%H:%M")
                .to_string(),
        }
    }
}

/// A column's bars, bottom up, scaled so that `peak` fills the height. A count too small to
/// show at this scale still gets one unit: a single refusal among thousands must be visible.
fn stack(series: &[Series], counts: &[i64], peak: i64) -> Vec<Bar> {
    if peak <= 0 {
        return Vec::new();
    }
    let mut heights: Vec<(&'static str, i64)> = series
        .iter()
        .zip(counts)
        .filter(|(_, n)| **n > 0)
        .map(|(s, n)| (s.class, ((n * HEIGHT + peak / 2) / peak).max(1)))
        .collect();
    // The units given to small counts (and rounding) may overflow the scale: the tallest bar
    // gives them back.
    let excess = heights.iter().map(|(_, h)| h).sum::<i64>() - HEIGHT;
    if excess > 0 {
        if let Some(tallest) = heights.iter_mut().max_by_key(|(_, h)| *h) {
            tallest.1 -= excess;
        }
    }
    let mut top = HEIGHT;
    heights
        .into_iter()
        .map(|(class, height)| {
            top -= height;
            Bar {
                class,
                y: top,
                height,
            }
        })
        .collect()
}

fn tooltip(minute: DateTime<Utc>, series: &[Series], counts: &[i64]) -> String {
    let parts: Vec<String> = series
        .iter()
        .zip(counts)
        .filter(|(_, n)| **n > 0)
        .map(|(s, n)| format!("{n} {}", s.label))
        .collect();
    format!("{} UTC: {}", minute.format("%H:%M"), parts.join(", "))
}

#[cfg(test)]
mod tests {
    use askama::Template;

    use super::*;

    const SERIES: [Series; 2] = [
        Series {
            class: "k-accepted",
            label: "accepted",
        },
        Series {
            class: "k-refused",
            label: "refused",
        },
    ];

    fn start() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-12-01T10:05:00Z")
            .unwrap()
            .to_utc()
    }

    #[test]
    fn the_tallest_minute_fills_the_height_and_the_others_scale() {
        let chart = Chart::stacked(
            "demo",
            &SERIES,
            start(),
            &[vec![30, 10], vec![0, 0], vec![20, 0]],
        );
        assert_eq!(chart.peak, 40);
        assert_eq!((chart.from.as_str(), chart.to.as_str()), ("10:05", "10:07"));
        let xs: Vec<i64> = chart.columns.iter().map(|c| c.x).collect();
        assert_eq!(xs, [0, 400], "the empty minute is not drawn");
        assert_eq!(
            chart.columns[0].bars,
            [
                Bar {
                    class: "k-accepted",
                    y: 30,
                    height: 90
                },
                Bar {
                    class: "k-refused",
                    y: 0,
                    height: 30
                },
            ]
        );
        assert_eq!(chart.columns[1].bars[0].height, 60);
        assert_eq!(chart.columns[0].label, "10:05 UTC: 30 accepted, 10 refused");
    }

    #[test]
    fn one_refusal_among_thousands_stays_visible_within_the_height() {
        let chart = Chart::stacked("demo", &SERIES, start(), &[vec![10_000, 1]]);
        let bars = &chart.columns[0].bars;
        assert_eq!(bars[1].height, 1);
        assert_eq!(bars.iter().map(|b| b.height).sum::<i64>(), HEIGHT);
        assert_eq!(bars[1].y, 0);
    }

    #[test]
    fn no_counts_draw_nothing() {
        for columns in [vec![], vec![vec![0, 0]; 60]] {
            let chart = Chart::stacked("demo", &SERIES, start(), &columns);
            assert_eq!(chart.peak, 0);
            assert!(chart.columns.is_empty());
        }
    }

    #[derive(Template)]
    #[template(source = r#"{% include "console/chart.html" %}"#, ext = "html")]
    struct OneChart<'a> {
        chart: &'a Chart,
    }

    #[test]
    fn names_are_escaped_in_the_drawing() {
        let hostile = r#"<script>alert("x")</script>"#;
        let chart = Chart::stacked(hostile, &SERIES, start(), &[vec![1, 1]]);
        let html = OneChart { chart: &chart }.render().unwrap();
        assert!(html.contains("<svg"), "{html}");
        assert!(!html.contains("<script"), "{html}");
        assert!(html.contains("&#60;script&#62;"), "{html}");
        assert!(!html.contains("style="), "no inline style: {html}");
    }
}
