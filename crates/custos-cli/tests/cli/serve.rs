//! `custos demo` and `custos serve` as processes: they print where they serve and how to
//! sign in, answer over HTTP, and stop cleanly on SIGTERM.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};

use crate::sqlite_url;

/// Starts custos with `args`, and reads its standard output up to the line with `until`;
/// returns the process, what it printed, and the address of the first `http://` URL.
// The child goes back to the caller, which waits for it; on a path that panics the test has
// failed and the harness ends its processes.
#[allow(clippy::zombie_processes)]
fn start(args: &[&str], until: &str) -> (Child, String, String) {
    // Mail the server writes (the demo's) goes to the system's temporary directory, never
    // into the tree the tests run in.
    let mail = std::env::temp_dir().join("custos-cli-tests-mail");
    let mut child = Command::new(env!("CARGO_BIN_EXE_custos"))
        .args(args)
        .env("CUSTOS_MAIL_DIR", mail)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut printed = String::new();
    let mut address = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            let _ = child.kill();
            let _ = child.wait();
            panic!("ended before {until:?}: {printed}");
        }
        printed.push_str(&line);
        if address.is_none()
            && let Some(rest) = line.split("http://").nth(1)
        {
            address = Some(rest.split('/').next().unwrap().to_owned());
        }
        if line.contains(until) {
            // Keep draining in the background so the server never blocks on a full pipe.
            std::thread::spawn(move || {
                let mut sink = String::new();
                let _ = reader.read_to_string(&mut sink);
            });
            return (child, printed, address.unwrap());
        }
    }
}

/// One HTTP/1.1 request on a fresh connection; the status and the body.
fn http(
    address: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String, String) {
    let mut stream = TcpStream::connect(address).unwrap();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head.to_owned(), body.to_owned())
}

/// Signs in over HTTP: the status, the session cookie (`name=value`) and the answer's body.
fn sign_in(address: &str, email: &str, password: &str) -> (u16, Option<String>, String) {
    let (status, head, body) = http(
        address,
        "POST",
        "/api/v1/session",
        &[("Content-Type", "application/json")],
        &format!(r#"{{"email": "{email}", "password": "{password}"}}"#),
    );
    let cookie = head
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .and_then(|c| c.split(';').next())
        .map(str::to_owned);
    (status, cookie, body)
}

fn terminate(mut child: Child) {
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert!(
        status.success(),
        "a SIGTERM stops the server cleanly: {status}"
    );
}

#[test]
fn demo_serves_the_examples_with_an_admin_and_a_portal_user() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir);
    let (child, printed, address) = start(
        &[
            "demo",
            "--demo-database-url",
            &url,
            "--listen",
            "127.0.0.1:0",
        ],
        "Stop with Ctrl-C",
    );
    assert!(
        printed.contains("administrator: admin@custos.demo / custos-demo-admin"),
        "{printed}"
    );
    assert!(printed.contains("portal user of agency B: portal@agency-b.demo / custos-demo-portal"));
    let (status, _, _) = http(&address, "GET", "/healthz", &[], "");
    assert_eq!(status, 200);
    let (status, cookie, body) = sign_in(&address, "portal@agency-b.demo", "custos-demo-portal");
    assert_eq!(status, 200, "{body}");
    let cookie = cookie.unwrap();
    let (status, _, chain) = http(
        &address,
        "GET",
        "/api/v1/activities/customer-marketing/chain?at=2026-11-25",
        &[("Cookie", &cookie)],
        "",
    );
    assert_eq!(status, 200);
    for processor in ["agency-b", "mailer-c", "hosting-d", "agency-e"] {
        assert!(chain.contains(processor), "{chain}");
    }
    let (status, _, _) = http(
        &address,
        "GET",
        "/api/v1/activities/document-delivery",
        &[("Cookie", &cookie)],
        "",
    );
    assert_eq!(status, 404, "agency B sees nothing of the bank");
    terminate(child);

    // A second run keeps the database and the users.
    let (child, _, address) = start(
        &[
            "demo",
            "--demo-database-url",
            &url,
            "--listen",
            "127.0.0.1:0",
        ],
        "Stop with Ctrl-C",
    );
    let (status, _, _) = sign_in(&address, "admin@custos.demo", "custos-demo-admin");
    assert_eq!(status, 200);
    terminate(child);
}

#[test]
fn serve_offers_a_one_time_setup_when_no_user_exists() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir);
    let (child, printed, address) = start(
        &["--database-url", &url, "serve", "--listen", "127.0.0.1:0"],
        "custos user create --admin",
    );
    let token = printed
        .split("\"setup_token\": \"")
        .nth(1)
        .map(|rest| rest.split('"').next().unwrap().to_owned())
        .unwrap_or_else(|| panic!("no setup token printed: {printed}"));
    // In a browser: the link printed leads to the form; a wrong secret does not.
    assert!(
        printed.contains(&format!("/setup?token={token}")),
        "{printed}"
    );
    let (status, _, _) = http(&address, "GET", "/setup?token=not-the-secret", &[], "");
    assert_eq!(status, 403);
    let (status, _, page) = http(&address, "GET", &format!("/setup?token={token}"), &[], "");
    assert_eq!(status, 200);
    assert!(page.contains("Create the administrator"), "{page}");
    let form = |repeat: &str| {
        format!(
            "token={token}&email=first%40admin.test&password=a+long+first+password&repeat={repeat}"
        )
    };
    let urlencoded = [("Content-Type", "application/x-www-form-urlencoded")];
    let (status, _, page) = http(
        &address,
        "POST",
        "/setup",
        &urlencoded,
        &form("another+one"),
    );
    assert_eq!(status, 422, "{page}");
    assert!(
        page.contains("value=\"first@admin.test\""),
        "the address is kept: {page}"
    );
    let (status, _, page) = http(
        &address,
        "POST",
        "/setup",
        &urlencoded,
        &form("a+long+first+password"),
    );
    assert_eq!(status, 201, "{page}");
    assert!(
        page.contains("first@admin.test is the instance&#39;s administrator")
            || page.contains("first@admin.test is the instance's administrator"),
        "{page}"
    );
    let (status, _, _) = http(&address, "GET", &format!("/setup?token={token}"), &[], "");
    assert_eq!(status, 404, "the setup works once");
    let body = format!(
        r#"{{"setup_token": "{token}", "email": "first@admin.test", "password": "a long first password"}}"#
    );
    let (again, _, _) = http(
        &address,
        "POST",
        "/api/v1/setup",
        &[("Content-Type", "application/json")],
        &body,
    );
    assert_eq!(again, 404, "the setup works once");
    let (status, _, _) = sign_in(&address, "first@admin.test", "a long first password");
    assert_eq!(status, 200);
    terminate(child);
}

/// Like [`http`], but a connection the server drops (it was killed) is `None`.
fn try_http(
    address: &str,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: &str,
) -> Option<u16> {
    let mut stream = TcpStream::connect(address).ok()?;
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    stream.write_all(body.as_bytes()).ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    response.split(' ').nth(1)?.parse().ok()
}

#[test]
fn a_server_killed_during_a_manifest_apply_leaves_all_or_nothing() {
    use custos_core::synthetic::{Shape, generate};
    let parts = generate(Shape {
        organisations: 3_000,
        engagements: 30_000,
        engagements_per_activity: 50,
        max_depth: 8,
        seed: 9,
        contracts: false,
        single_controller: false,
    });
    let total_rows = parts.organisations.len() + parts.activities.len() + parts.engagements.len();
    let manifest = custos_core::manifest::to_yaml(&parts);
    let mut outcomes = Vec::new();
    for (attempt, delay_ms) in [100u64, 300, 700, 1_000, 1_500, 2_000, 3_000, 4_500, 60_000]
        .into_iter()
        .enumerate()
    {
        let dir = tempfile::tempdir().unwrap();
        let url = sqlite_url(&dir);
        let mut admin = Command::new(env!("CARGO_BIN_EXE_custos"))
            .args([
                "--database-url",
                &url,
                "user",
                "create",
                "--admin",
                "a@custos.test",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        admin
            .stdin
            .take()
            .unwrap()
            .write_all(b"a long admin password\n")
            .unwrap();
        assert!(admin.wait().unwrap().success());
        let (mut child, _, address) = start(
            &["--database-url", &url, "serve", "--listen", "127.0.0.1:0"],
            "Custos serves",
        );
        let (status, cookie, me) = sign_in(&address, "a@custos.test", "a long admin password");
        assert_eq!(status, 200);
        let cookie = cookie.unwrap();
        let csrf = me
            .split("\"csrf_token\":\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .to_owned();
        let headers = vec![
            ("Cookie".to_owned(), cookie),
            ("X-CSRF-Token".to_owned(), csrf),
            ("Content-Type".to_owned(), "application/yaml".to_owned()),
        ];
        let body = manifest.clone();
        let posting = {
            let address = address.clone();
            std::thread::spawn(move || {
                try_http(&address, "POST", "/api/v1/manifest", &headers, &body)
            })
        };
        let finished = crate::done_within(delay_ms, || posting.is_finished());
        let mut inside = false;
        if finished {
            assert_eq!(posting.join().unwrap(), Some(200), "attempt {attempt}");
            terminate(child);
        } else {
            inside = crate::write_transaction_open(&url);
            child.kill().unwrap(); // SIGKILL on Unix
            child.wait().unwrap();
            let _ = posting.join();
        }
        let rows = crate::stored_rows_all_or_nothing(&url, total_rows, attempt);
        let verified = crate::custos(&url, &["audit", "verify"]);
        assert_eq!(
            verified.code, 0,
            "attempt {attempt}: the audit log stays whole: {}",
            verified.stdout
        );
        outcomes.push(crate::Outcome {
            finished,
            inside,
            rows,
        });
        if finished {
            break;
        }
    }
    crate::one_finished_one_killed(&outcomes, total_rows);
}
