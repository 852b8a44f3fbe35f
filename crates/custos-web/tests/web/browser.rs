//! The web UI in real headless Chromium (Debian's `chromium`, driven by `playwright-core`
//! from npm; see tests/browser/ui.mjs). Skipped, loudly, where Chromium or the npm package is
//! missing, unless `CUSTOS_REQUIRE_BROWSER` is set, as CI sets it (and installs both).

use std::path::Path;

use crate::start;

/// Chromium's path, or None (announced) where it or playwright-core is missing and the
/// browser tests are not required.
pub(crate) fn chromium() -> Option<String> {
    let scripts = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    let chromium = std::env::var("CUSTOS_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let missing: Vec<String> = [
        (
            Path::new(&chromium).exists(),
            format!("Chromium at {chromium} (apt-get install chromium)"),
        ),
        (
            scripts.join("node_modules/playwright-core").exists(),
            format!("playwright-core (npm ci --prefix {})", scripts.display()),
        ),
    ]
    .into_iter()
    .filter(|(present, _)| !present)
    .map(|(_, what)| what)
    .collect();
    if missing.is_empty() {
        return Some(chromium);
    }
    assert!(
        std::env::var_os("CUSTOS_REQUIRE_BROWSER").is_none(),
        "browser tests required, but missing: {missing:?}"
    );
    custos_app::testing::announce_skip(&format!("the browser test, missing {missing:?}"));
    None
}

/// Runs `script` of tests/browser against `server` with `args` after the base URL and the
/// screenshot directory; it must print `passed`.
pub(crate) async fn run_script(
    chromium: String,
    server: &crate::TestServer,
    script: &str,
    args: &[&str],
) {
    let scripts = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    let base = server.base.clone();
    let shots = env!("CARGO_TARGET_TMPDIR").to_owned();
    let script = scripts.join(script);
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("node")
            .arg(script)
            .arg(&base)
            .arg(&shots)
            .args(&args)
            .env("CUSTOS_CHROMIUM", chromium)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("passed"), "{stdout}");
}

/// The first journeys (sign-in, the chain, the notice, a change request, an erasure, a
/// breach) at 1366 px and again at 375 px, each on a fresh server.
#[tokio::test]
async fn sign_in_and_see_the_marketing_chain_in_chromium() {
    let Some(chromium) = chromium() else { return };
    for width in ["1366", "375"] {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("custos.db").display());
        let server = start(custos_app::Store::open(&url).await.unwrap()).await;
        // A template that would mark the document if its script ran (the script checks at the end).
        let template = "<script>document.documentElement.dataset.ran = 'yes'</script>\
            {% for r in notice.recipients %}<p>{{ r.name }}</p>{% endfor %}";
        let (status, _, body) = crate::send(
            &server,
            "hypermarket",
            reqwest::Method::PUT,
            "/api/v1/organisations/hypermarket-a/templates/notice.html?lang=en",
            &[],
            Some(serde_json::json!({"body": template})),
        )
        .await;
        assert_eq!(status, 204, "{body}");
        run_script(chromium.clone(), &server, "ui.mjs", &[width]).await;
        server.stop().await;
    }
}

/// The workplace journeys (issue 18) at 1280 px and again at 375 px, each on a fresh server.
#[tokio::test]
async fn the_workplace_journeys_in_chromium_at_1280_and_375_px() {
    let Some(chromium) = chromium() else { return };
    for width in ["1280", "375"] {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("custos.db").display());
        let server =
            crate::workplace::workplace(custos_app::Store::open(&url).await.unwrap()).await;
        run_script(chromium.clone(), &server, "workplace.mjs", &[width]).await;
        server.stop().await;
    }
}

/// The people journeys (issue 19): invitations, roles, disabling, two-factor sign-in with the
/// code computed as an app would (the server on the real clock), a forgotten password; at
/// 1280 px and at 375 px, each on a fresh server.
#[tokio::test]
async fn the_people_journeys_in_chromium_at_1280_and_375_px() {
    let Some(chromium) = chromium() else { return };
    for width in ["1280", "375"] {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("custos.db").display());
        let server = crate::start_with(
            custos_app::Store::open(&url).await.unwrap(),
            std::sync::Arc::new(custos_app::SystemClock),
        )
        .await;
        run_script(chromium.clone(), &server, "people.mjs", &[width]).await;
        server.stop().await;
    }
}

/// The staff pages in Spanish (issue 19, item 7): the sign-in page as the browser asks, every
/// page of the navigation and the forms once the person chose Spanish; at 1280 and 375 px.
#[tokio::test]
async fn the_pages_in_spanish_in_chromium_at_1280_and_375_px() {
    let Some(chromium) = chromium() else { return };
    for width in ["1280", "375"] {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("custos.db").display());
        let server = start(custos_app::Store::open(&url).await.unwrap()).await;
        run_script(chromium.clone(), &server, "spanish.mjs", &[width]).await;
        server.stop().await;
    }
}
