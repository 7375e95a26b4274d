//! docs/host-api.md stays true: every `curl` example in it runs, in order, against a real API
//! (`sh -e`, `curl -f`: a refused request fails the test), and says what the page says.

use crate::helpers::{Backend, APP_KEY, OPS_KEY};

/// The page's ```sh blocks that call curl, in order.
fn examples() -> Vec<String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/host-api.md");
    let page = std::fs::read_to_string(path).unwrap();
    page.split("```sh\n")
        .skip(1)
        .map(|block| block.split("```").next().unwrap().to_owned())
        .filter(|block| block.contains("curl"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_curl_examples_of_the_guide_run() {
    let api =
        crate::helpers::spawn_api(Backend::Sqlite, "docs::the_curl_examples_of_the_guide_run")
            .await
            .unwrap();
    let examples = examples();
    assert!(examples.len() >= 7, "found {} examples", examples.len());
    let base = api.base();
    let mut outputs = Vec::new();
    for example in examples {
        let (base, example2) = (base.clone(), example.clone());
        let output = tokio::task::spawn_blocking(move || {
            std::process::Command::new("sh")
                .arg("-ec")
                .arg(&example2)
                .env("API", base)
                .env("KEY", APP_KEY)
                .env("OPS_KEY", OPS_KEY)
                .output()
                .unwrap()
        })
        .await
        .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "example failed:\n{example}\nstdout: {stdout}\nstderr: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        outputs.push(stdout);
    }
    // What the page says each one answers.
    assert!(
        outputs[0].contains(r#""request_ref":"order-1001""#),
        "{}",
        outputs[0]
    );
    assert!(
        outputs[0].contains(r#""amount":"10250.00""#),
        "{}",
        outputs[0]
    );
    assert!(outputs[2].contains(r#""decisions":[]"#), "{}", outputs[2]);
    let forced = outputs
        .iter()
        .find(|o| o.contains(r#""outcome":"override""#));
    assert!(
        forced.is_some_and(|o| o.contains(r#""status":"SUCCESS""#)),
        "{outputs:?}"
    );
    assert!(
        outputs.iter().any(|o| o.contains(r#""replayed":0"#)),
        "{outputs:?}"
    );
    // The override's notification: listed, read, and (pending still) not replayed.
    let told = outputs
        .iter()
        .filter(|o| o.contains(r#""type":"collection.succeeded""#))
        .count();
    assert_eq!(told, 2, "{outputs:?}");
    assert!(
        outputs
            .last()
            .is_some_and(|o| o.contains(r#""replayed":false"#)),
        "{outputs:?}"
    );
}
