//! The workflow from the command line and its workers in a real server process: a server
//! killed with SIGKILL after sending a webhook but before recording it sends it again after
//! restart, with the same webhook-id: delivered once per endpoint, never dropped.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use crate::{custos, done_within, examples_dir, json, sqlite_url};

/// A webhook receiver that records each request's webhook-id; it never answers the first
/// request (the server is killed while it waits), and answers 200 to the others.
fn receiver() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let ids: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = ids.clone();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut id = String::new();
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                let lower = line.to_ascii_lowercase();
                if let Some(v) = lower.strip_prefix("webhook-id:") {
                    id = v.trim().to_owned();
                }
                if let Some(v) = lower.strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0u8; length];
            let _ = reader.read_exact(&mut body);
            let first = {
                let mut ids = seen.lock().unwrap();
                ids.push(id);
                ids.len() == 1
            };
            if first {
                held.push(stream); // no answer: the server is killed while waiting
            } else {
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                );
            }
        }
    });
    (url, ids)
}

#[allow(clippy::zombie_processes)] // every path below waits for or kills it
fn serve(database_url: &str, mail: &std::path::Path) -> Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_custos"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("CUSTOS_DATABASE_URL", database_url)
        .env("CUSTOS_DELIVERY_LEASE_SECONDS", "1")
        // The receiver listens on loopback: allowed explicitly.
        .env("CUSTOS_ALLOW_PRIVATE_TARGETS", "1")
        .env("CUSTOS_MAIL_DIR", mail)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while !line.contains("Custos serves") {
        line.clear();
        assert!(reader.read_line(&mut line).unwrap() > 0, "the server ended");
    }
    std::thread::spawn(move || {
        let mut sink = String::new();
        let _ = reader.read_to_string(&mut sink);
    });
    child
}

#[test]
fn a_server_killed_between_sending_and_recording_sends_again_with_the_same_id() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir);
    let mail = dir.path().join("mail");
    std::fs::create_dir_all(&mail).unwrap();
    assert_eq!(
        custos(&url, &["apply", examples_dir().to_str().unwrap()]).code,
        0
    );
    let (hook_url, ids) = receiver();
    let added = custos(
        &url,
        &[
            "webhook",
            "add",
            "--organisation",
            "agency-b",
            "--url",
            &hook_url,
            "--event",
            "change_request.filed",
        ],
    );
    assert_eq!(added.code, 0, "{}", added.stderr);
    let hook = added.stdout.split_whitespace().nth(1).unwrap().to_owned();
    let request = dir.path().join("request.yaml");
    std::fs::write(
        &request,
        "requester: agency-b
service: Purchase-preference analysis
dossier:
  candidate: {id: analytics-z, name: Analytics Z S.L., country: ES, address: Calle Mayor 9 Madrid,
              contact: {name: Zoe Ruiz, email: dpo@analytics-z.example}}
  processing: Analysis of pseudonymised order histories
",
    )
    .unwrap();
    let filed = json(&custos(
        &url,
        &[
            "change",
            "file",
            request.to_str().unwrap(),
            "--format",
            "json",
        ],
    ));
    assert_eq!(filed["controllers"][0]["controller"], "hypermarket-a");

    // The server sends; the receiver takes it and never answers; the server is killed.
    let mut server = serve(&url, &mail);
    assert!(
        done_within(15_000, || ids.lock().unwrap().len() == 1),
        "the webhook was sent"
    );
    // The e-mail of the same event went through and was recorded; only the webhook hangs.
    let mail_log = || {
        json(&custos(
            &url,
            &[
                "webhook",
                "deliveries",
                "dpo@hypermarket-a.example",
                "--format",
                "json",
            ],
        ))
    };
    assert!(
        done_within(10_000, || mail_log()[0]["state"] == "delivered"),
        "{}",
        mail_log()
    );
    server.kill().unwrap(); // SIGKILL
    server.wait().unwrap();

    // After restart the lease runs out and the same event goes again.
    let mut server = serve(&url, &mail);
    assert!(
        done_within(20_000, || ids.lock().unwrap().len() >= 2),
        "sent again after restart"
    );
    let log = || {
        json(&custos(
            &url,
            &["webhook", "deliveries", &hook, "--format", "json"],
        ))
    };
    assert!(
        done_within(5_000, || log()[0]["state"] == "delivered"),
        "{}",
        log()
    );
    server.kill().unwrap();
    server.wait().unwrap();

    let ids = ids.lock().unwrap().clone();
    assert!(
        ids.iter().all(|id| id == &ids[0]),
        "one webhook-id: {ids:?}"
    );
    let log = log();
    assert_eq!(log.as_array().unwrap().len(), 1, "{log}");
    assert_eq!(log[0]["state"], "delivered");
    // The controller's notice went out by e-mail too, once.
    let mails = std::fs::read_dir(&mail).unwrap().count();
    assert_eq!(mails, 1);
}
