//! Signing in with OpenID Connect against a real, independent OpenID Provider (panva's
//! certified `oidc-provider`, from npm, on node; tests/oidc/provider.mjs) on loopback, driven
//! in Chromium like a person would: an account made from the membership claim, an invited
//! account linked by its verified address, someone without membership refused, an unverified
//! address not taken, a forged state and a changed nonce refused, logout at the provider.

use std::path::Path;
use std::sync::Arc;

use crate::browser::{chromium, run_script};

/// A port free now on loopback (the kernel's choice), for a process started next.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

const SECRET: &str = "the client secret of the tests";

/// The provider, running until dropped.
struct Provider {
    child: std::process::Child,
    issuer: String,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the provider for a Custos at `custos`, once it says it listens; None (announced)
/// where its npm package is missing and the browser tests are not required.
fn provider(port: u16, custos: &str) -> Option<Provider> {
    use std::io::BufRead;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oidc");
    if !dir.join("node_modules/oidc-provider").exists() {
        assert!(
            std::env::var_os("CUSTOS_REQUIRE_BROWSER").is_none(),
            "the OpenID Connect test is required, but oidc-provider is missing (npm ci --prefix {})",
            dir.display()
        );
        custos_app::testing::announce_skip(&format!(
            "the OpenID Connect test, missing oidc-provider (npm ci --prefix {})",
            dir.display()
        ));
        return None;
    }
    let mut child = std::process::Command::new("node")
        .arg(dir.join("provider.mjs"))
        .arg(port.to_string())
        .arg(custos)
        .arg(SECRET)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    assert!(line.starts_with("listening "), "the provider said {line:?}");
    // Whatever it says next is read (a closed pipe would end it at its next word).
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    Some(Provider {
        child,
        issuer: line.trim_start_matches("listening ").trim().to_owned(),
    })
}

#[tokio::test]
async fn oidc_sign_in_against_a_real_provider_in_chromium() {
    let Some(chromium) = chromium() else { return };
    let (custos_port, provider_port) = (free_port(), free_port());
    let custos = format!("http://127.0.0.1:{custos_port}");
    let Some(provider) = provider(provider_port, &custos) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let store = custos_app::Store::open(&format!(
        "sqlite://{}",
        dir.path().join("custos.db").display()
    ))
    .await
    .unwrap();
    crate::populate(&store).await;
    // The DPO of the tests signs in through the provider too: its account has no password
    // use there, only its verified address.
    let server = crate::serve_with_config(
        store.clone(),
        Arc::new(custos_app::SystemClock),
        custos_web::Config {
            listen: format!("127.0.0.1:{custos_port}").parse().unwrap(),
            secure_cookies: false,
            outbound: custos_app::outbound::Outbound::ANYWHERE,
            trusted_proxies: Vec::new(),
            oidc: Some(custos_app::oidc::OidcSettings {
                issuer: provider.issuer.clone(),
                client_id: "custos".to_owned(),
                client_secret: SECRET.to_owned(),
                public_url: custos.clone(),
                membership_claim: Some("custos_memberships".to_owned()),
                label: "Test Provider".to_owned(),
            }),
        },
    )
    .await;
    assert_eq!(server.base, custos);

    // Without the browser: a callback whose state is not the browser's, or unknown, is
    // refused before anything is asked of the provider.
    let forged = server
        .client
        .get(server.url("/login/oidc/callback?code=stolen&state=forged"))
        .header("cookie", "custos_oidc_state=other")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status().as_u16(), 400);
    assert!(
        forged
            .text()
            .await
            .unwrap()
            .contains("did not start in this browser")
    );
    let unknown = server
        .client
        .get(server.url("/login/oidc/callback?code=stolen&state=forged"))
        .header("cookie", "custos_oidc_state=forged")
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status().as_u16(), 400);

    run_script(chromium, &server, "oidc.mjs", &[&provider.issuer]).await;

    // What the journeys left: Ana's account from the claim (a role in the register's
    // organisation only), the DPO's linked, nobody's refusal, all audited.
    let (status, users) = server.get(Some("admin"), "/api/v1/users").await;
    assert_eq!(status, 200);
    let ana = users["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["email"] == "ana@hypermarket-a.test")
        .unwrap_or_else(|| panic!("no account for Ana: {users}"));
    assert_eq!(
        ana["memberships"],
        serde_json::json!([{"organisation": "hypermarket-a", "role": "viewer"}])
    );
    assert!(
        !users.to_string().contains("nobody@example.com"),
        "no account for someone without membership"
    );
    let (_, audit) = server.get(Some("admin"), "/api/v1/audit?limit=1000").await;
    let text = audit.to_string();
    for expected in [
        "\"actor\":\"oidc:ana@hypermarket-a.test\"",
        "sign_in_refused",
        "\\\"via\\\":\\\"oidc\\\"",
    ] {
        assert!(text.contains(expected), "{expected} in the audit");
    }
    server.stop().await;
    drop(provider);
}
