//! People of an instance (issue 19, item 1): invitations, roles, disabling and deleting,
//! password resets by e-mail, TOTP two-factor sign-in, organisations that require it, OAuth2
//! client credentials; through the API, the pages and their e-mails. Each tried by the wrong
//! party.

use std::sync::Arc;

use custos_app::ManualClock;
use jiff::SignedDuration;
use reqwest::Method;
use serde_json::{Value, json};

use crate::changes::{dispatcher, drain, on_every_backend_with_clock};
use crate::hostile::signed_in;
use crate::rights::{mails, strictly_parsed};
use crate::settings::{get_page, post_form};
use crate::{TestServer, send};

/// Sets `field` of organisation `id` to `value` through the API as `token` (read, changed, put
/// back with its ETag); the organisation as it was before.
pub(crate) async fn set_on_organisation(
    server: &TestServer,
    token: &str,
    id: &str,
    field: &str,
    value: Value,
) -> Value {
    let path = format!("/api/v1/organisations/{id}");
    let (status, headers, before) = send(server, token, Method::GET, &path, &[], None).await;
    assert_eq!(status, 200, "{before}");
    let tag = headers["etag"].to_str().unwrap().to_owned();
    let mut organisation = before.clone();
    organisation[field] = value;
    let (status, _, body) = send(
        server,
        token,
        Method::PUT,
        &path,
        &[("if-match", &tag)],
        Some(organisation),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    before
}

/// The path of the one-time link (`/invitations/…`, `/password-reset/…`) in the one e-mail to
/// `to` in `dir`.
fn link_in_mail(dir: &std::path::Path, to: &str, prefix: &str) -> String {
    let all = mails(dir);
    let to_them: Vec<&String> = all
        .iter()
        .filter(|m| m.contains(&format!("To: {to}")))
        .collect();
    let [mail] = to_them.as_slice() else {
        panic!("not one e-mail to {to} in {all:?}");
    };
    let from = mail
        .find(prefix)
        .unwrap_or_else(|| panic!("no {prefix} in {mail}"));
    mail[from..]
        .split(|c: char| c.is_whitespace() || c == '"' || c == '<')
        .next()
        .unwrap()
        .to_owned()
}

/// A JSON request with a session cookie and its CSRF token.
async fn as_session(
    server: &TestServer,
    (cookie, csrf): &(String, String),
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = server
        .client
        .request(method, server.url(path))
        .header("cookie", cookie)
        .header("x-csrf-token", csrf);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Signs in by the API: the status and the body.
async fn sign_in(server: &TestServer, body: Value) -> (u16, Value) {
    let response = server
        .client
        .post(server.url("/api/v1/session"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The key of the account with this address, as the instance administrator lists them.
async fn key_of(server: &TestServer, email: &str) -> String {
    let (status, _, list) = send(server, "admin", Method::GET, "/api/v1/users", &[], None).await;
    assert_eq!(status, 200, "{list}");
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["email"] == email)
        .unwrap_or_else(|| panic!("no {email} in {list}"))["key"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Invites `email` as admin of hypermarket-a (by the instance administrator), accepts the
/// invitation from the e-mail with a password, and signs in: the session.
async fn invited_admin(
    server: &TestServer,
    store: &custos_app::Store,
    clock: &Arc<ManualClock>,
    mail: &std::path::Path,
    email: &str,
) -> (String, String) {
    let (status, _, invited) = send(
        server,
        "admin",
        Method::POST,
        "/api/v1/users",
        &[],
        Some(json!({"email": email, "memberships": [{"organisation": "hypermarket-a", "role": "admin"}]})),
    )
    .await;
    assert_eq!(status, 201, "{invited}");
    drain(&dispatcher(store, clock.clone(), mail)).await;
    let link = link_in_mail(mail, email, "/invitations/");
    let token = link.trim_start_matches("/invitations/");
    let response = server
        .client
        .post(server.url("/api/v1/invitations/accept"))
        .json(&json!({"token": token, "password": "a lead's long password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 204);
    signed_in(server, email, "a lead's long password").await
}

#[tokio::test]
async fn an_organisation_admin_invites_and_manages_its_people_and_no_one_else() {
    on_every_backend_with_clock(|server, store, clock| async move {
        let mail = tempfile::tempdir().unwrap();
        // The instance administrator invites hypermarket-a's lead: an account without a
        // password, and a link by e-mail.
        let (status, _, invited) = send(
            &server,
            "admin",
            Method::POST,
            "/api/v1/users",
            &[],
            Some(json!({"email": "Lead@Hypermarket-A.test",
                        "memberships": [{"organisation": "hypermarket-a", "role": "admin"}]})),
        )
        .await;
        assert_eq!(status, 201, "{invited}");
        assert_eq!(invited["existed"], false);
        assert_eq!(invited["account"]["email"], "lead@hypermarket-a.test");
        assert_eq!(invited["account"]["invited"], true);
        drain(&dispatcher(&store, clock.clone(), mail.path())).await;
        let parsed = strictly_parsed(mail.path());
        if let Some(parsed) = parsed {
            assert_eq!(parsed.len(), 1, "{parsed:?}");
            assert_eq!(parsed[0]["to"], "lead@hypermarket-a.test");
            let text = parsed[0]["text"].as_str().unwrap();
            assert!(text.contains("user:admin@custos.test invited you to Custos, for hypermarket-a"), "{text}");
        }
        let link = link_in_mail(mail.path(), "lead@hypermarket-a.test", "/invitations/");
        // Nobody signs in to an invited account before the link is used.
        let (status, _) = sign_in(&server, json!({"email": "lead@hypermarket-a.test", "password": "!"})).await;
        assert_eq!(status, 401);
        // The page asks for the password twice; a mismatch keeps the form.
        let page = server.client.get(server.url(&link)).send().await.unwrap();
        assert_eq!(page.status().as_u16(), 200);
        let page = page.text().await.unwrap();
        assert!(page.contains("lead@hypermarket-a.test") && page.contains("Accept the invitation"), "{page}");
        let post = |body: &'static str| {
            server
                .client
                .post(server.url(&link))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
        };
        let refused = post("password=a+lead%27s+long+password&repeat=something+else+again").await.unwrap();
        assert_eq!(refused.status().as_u16(), 422);
        assert!(refused.text().await.unwrap().contains("the two passwords differ"));
        let short = post("password=short&repeat=short").await.unwrap();
        assert_eq!(short.status().as_u16(), 422);
        let done = post("password=a+lead%27s+long+password&repeat=a+lead%27s+long+password").await.unwrap();
        assert_eq!(done.status().as_u16(), 200);
        assert!(done.text().await.unwrap().contains("Your password is set"));
        let again = post("password=another+long+password&repeat=another+long+password").await.unwrap();
        assert_eq!(again.status().as_u16(), 404, "a link works once");
        let lead = signed_in(&server, "lead@hypermarket-a.test", "a lead's long password").await;

        // The lead sees the people of hypermarket-a only.
        let (status, list) = as_session(&server, &lead, Method::GET, "/api/v1/users", None).await;
        assert_eq!(status, 200, "{list}");
        let emails: Vec<&str> = list["items"].as_array().unwrap().iter().map(|a| a["email"].as_str().unwrap()).collect();
        assert_eq!(emails, ["dpo@hypermarket-a.test", "lead@hypermarket-a.test"]);
        let dpo = key_of(&server, "dpo@hypermarket-a.test").await;
        let staff = key_of(&server, "staff@agency-b.test").await;
        let admin = key_of(&server, "admin@custos.test").await;
        // Not beyond it: another organisation's people, roles there, instance administrators.
        let (status, _) = as_session(&server, &lead, Method::GET, &format!("/api/v1/users/{staff}"), None).await;
        assert_eq!(status, 404);
        let (status, _) = as_session(&server, &lead, Method::POST, &format!("/api/v1/users/{staff}/disable"), None).await;
        assert_eq!(status, 404);
        let (status, _) = as_session(&server, &lead, Method::POST, &format!("/api/v1/users/{admin}/disable"), None).await;
        assert_eq!(status, 404);
        let (status, body) = as_session(&server, &lead, Method::POST, "/api/v1/users",
            Some(json!({"email": "x@agency-b.test", "memberships": [{"organisation": "agency-b", "role": "admin"}]}))).await;
        assert_eq!(status, 403, "{body}");
        let (status, _) = as_session(&server, &lead, Method::PUT, &format!("/api/v1/users/{dpo}/memberships"),
            Some(json!({"memberships": [{"organisation": "agency-b", "role": "viewer"}]}))).await;
        assert_eq!(status, 403);
        let (status, _) = as_session(&server, &lead, Method::POST, "/api/v1/users",
            Some(json!({"email": "root@hypermarket-a.test", "is_admin": true,
                        "memberships": [{"organisation": "hypermarket-a", "role": "viewer"}]}))).await;
        assert_eq!(status, 403, "only an instance administrator makes another");
        let (status, body) = as_session(&server, &lead, Method::POST, "/api/v1/users",
            Some(json!({"email": "x@hypermarket-a.test", "memberships": [{"organisation": "nowhere", "role": "viewer"}]}))).await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(body["field"], "memberships");
        let (status, _) = as_session(&server, &lead, Method::POST, &format!("/api/v1/users/{}/disable", key_of(&server, "lead@hypermarket-a.test").await), None).await;
        assert_eq!(status, 403, "nobody disables their own account");
        // Others who administer nothing manage nobody; a read-only token writes nothing.
        let (status, _, _) = send(&server, "agency-b", Method::GET, "/api/v1/users", &[], None).await;
        assert_eq!(status, 403);
        let (status, _, _) = send(&server, "hypermarket", Method::POST, &format!("/api/v1/users/{dpo}/disable"), &[], None).await;
        assert_eq!(status, 403, "an editor is not an admin");

        // The lead makes the DPO a viewer: its token no longer writes.
        let (status, account) = as_session(&server, &lead, Method::PUT, &format!("/api/v1/users/{dpo}/memberships"),
            Some(json!({"memberships": [{"organisation": "hypermarket-a", "role": "viewer"}]}))).await;
        assert_eq!(status, 200, "{account}");
        assert_eq!(account["memberships"][0]["role"], "viewer");
        let (status, _, _) = send(&server, "hypermarket", Method::POST, "/api/v1/organisations", &[],
            Some(json!({"id": "x-new", "name": "X", "country": "ES"}))).await;
        assert_eq!(status, 403, "a viewer writes nothing");
        // Disabled: sessions end, tokens and sign-in are refused; enabled again: back.
        let dpo_session = signed_in(&server, "dpo@hypermarket-a.test", "password of hypermarket").await;
        let (status, account) = as_session(&server, &lead, Method::POST, &format!("/api/v1/users/{dpo}/disable"), None).await;
        assert_eq!(status, 200, "{account}");
        assert!(account["disabled_at"].is_string());
        let (status, _) = as_session(&server, &dpo_session, Method::GET, "/api/v1/me", None).await;
        assert_eq!(status, 401, "the session ended");
        let (status, _) = server.get(Some("hypermarket"), "/api/v1/me").await;
        assert_eq!(status, 401, "the token is refused");
        let (status, body) = sign_in(&server, json!({"email": "dpo@hypermarket-a.test", "password": "password of hypermarket"})).await;
        assert_eq!(status, 403);
        assert!(body["detail"].as_str().unwrap().contains("disabled"), "{body}");
        let (status, _) = sign_in(&server, json!({"email": "dpo@hypermarket-a.test", "password": "wrong password!"})).await;
        assert_eq!(status, 401, "a wrong password is not told the account is disabled");
        let (status, _) = as_session(&server, &lead, Method::POST, &format!("/api/v1/users/{dpo}/enable"), None).await;
        assert_eq!(status, 200);
        let (status, _) = server.get(Some("hypermarket"), "/api/v1/me").await;
        assert_eq!(status, 200);
        // Inviting an address with an account adds the role; no e-mail.
        let before = mails(mail.path()).len();
        let (status, body) = as_session(&server, &lead, Method::POST, "/api/v1/users",
            Some(json!({"email": "dpo@hypermarket-a.test", "memberships": [{"organisation": "hypermarket-a", "role": "editor"}]}))).await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["existed"], true);
        drain(&dispatcher(&store, clock.clone(), mail.path())).await;
        assert_eq!(mails(mail.path()).len(), before);
        // Deleting: gone, the audit keeps what happened.
        let (status, body) = as_session(&server, &lead, Method::POST, "/api/v1/users",
            Some(json!({"email": "temp@hypermarket-a.test", "memberships": [{"organisation": "hypermarket-a", "role": "viewer"}]}))).await;
        assert_eq!(status, 201, "{body}");
        let temp = body["account"]["key"].as_str().unwrap().to_owned();
        let (status, _) = as_session(&server, &lead, Method::DELETE, &format!("/api/v1/users/{temp}"), None).await;
        assert_eq!(status, 204);
        let (status, _) = as_session(&server, &lead, Method::GET, &format!("/api/v1/users/{temp}"), None).await;
        assert_eq!(status, 404);
        let actions: Vec<String> = crate::audit_actions(&server, "admin", "user").await.into_iter().map(|(a, _)| a).collect();
        for action in ["invite", "accept_invitation", "set_memberships", "disable", "enable", "grant", "delete"] {
            assert!(actions.iter().any(|a| a == action), "{action} in {actions:?}");
        }
        server.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_password_is_reset_by_a_one_time_link_and_unknown_addresses_get_the_same_answer() {
    on_every_backend_with_clock(|server, store, clock| async move {
        let mail = tempfile::tempdir().unwrap();
        let ask = |email: &'static str| {
            server
                .client
                .post(server.url("/api/v1/password-reset"))
                .json(&json!({"email": email}))
                .send()
        };
        let known = ask("dpo@hypermarket-a.test").await.unwrap();
        let unknown = ask("nobody@hypermarket-a.test").await.unwrap();
        assert_eq!(known.status().as_u16(), 202);
        assert_eq!(unknown.status().as_u16(), 202);
        assert_eq!(known.text().await.unwrap(), unknown.text().await.unwrap());
        drain(&dispatcher(&store, clock.clone(), mail.path())).await;
        assert_eq!(
            mails(mail.path()).len(),
            1,
            "one e-mail, to the account only"
        );
        if let Some(parsed) = strictly_parsed(mail.path()) {
            assert_eq!(parsed[0]["to"], "dpo@hypermarket-a.test");
        }
        let link = link_in_mail(mail.path(), "dpo@hypermarket-a.test", "/password-reset/");
        let token = link.trim_start_matches("/password-reset/").to_owned();
        let before = signed_in(&server, "dpo@hypermarket-a.test", "password of hypermarket").await;
        let complete = |token: String, password: &'static str| {
            server
                .client
                .post(server.url("/api/v1/password-reset/complete"))
                .json(&json!({"token": token, "password": password}))
                .send()
        };
        let status = complete(token.clone(), "too short")
            .await
            .unwrap()
            .status()
            .as_u16();
        assert_eq!(status, 422);
        let status = complete(token.clone(), "a brand new password")
            .await
            .unwrap()
            .status()
            .as_u16();
        assert_eq!(status, 204);
        let status = complete(token.clone(), "yet another new password")
            .await
            .unwrap()
            .status()
            .as_u16();
        assert_eq!(status, 404, "a link works once");
        let (status, _) = as_session(&server, &before, Method::GET, "/api/v1/me", None).await;
        assert_eq!(status, 401, "a reset ends every session");
        let (status, _) = sign_in(
            &server,
            json!({"email": "dpo@hypermarket-a.test", "password": "password of hypermarket"}),
        )
        .await;
        assert_eq!(status, 401);
        signed_in(&server, "dpo@hypermarket-a.test", "a brand new password").await;
        // Three links an hour at most; the answer stays the same.
        for _ in 0..4 {
            assert_eq!(
                ask("dpo@hypermarket-a.test")
                    .await
                    .unwrap()
                    .status()
                    .as_u16(),
                202
            );
        }
        drain(&dispatcher(&store, clock.clone(), mail.path())).await;
        assert_eq!(mails(mail.path()).len(), 1 + 2, "three this hour in all");
        // A link lasts an hour (an hour later the account may ask again).
        clock.advance(SignedDuration::from_mins(61));
        assert_eq!(
            ask("dpo@hypermarket-a.test")
                .await
                .unwrap()
                .status()
                .as_u16(),
            202
        );
        let later = tempfile::tempdir().unwrap();
        drain(&dispatcher(&store, clock.clone(), later.path())).await;
        let link = link_in_mail(later.path(), "dpo@hypermarket-a.test", "/password-reset/");
        let page = server.client.get(server.url(&link)).send().await.unwrap();
        assert_eq!(page.status().as_u16(), 200, "valid for now");
        clock.advance(SignedDuration::from_mins(61));
        let page = server.client.get(server.url(&link)).send().await.unwrap();
        assert_eq!(page.status().as_u16(), 404);
        assert!(
            page.text()
                .await
                .unwrap()
                .contains("This link does not work")
        );
        // The page: the same answer for any address.
        let page = server
            .client
            .post(server.url("/password-reset"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("email=nobody%40example.com")
            .send()
            .await
            .unwrap();
        assert_eq!(page.status().as_u16(), 200);
        assert!(
            page.text()
                .await
                .unwrap()
                .contains("If nobody@example.com has an account")
        );
        server.stop().await;
    })
    .await;
}

/// The code an authenticator app shows now for `key`.
fn code(key: &str, clock: &ManualClock) -> String {
    use custos_app::Clock as _;
    custos_app::totp::current_code(key, clock.now().as_second()).unwrap()
}

#[tokio::test]
async fn two_factor_sign_in_takes_each_code_once_and_each_recovery_code_once() {
    on_every_backend_with_clock(|server, _store, clock| async move {
        let dpo = signed_in(&server, "dpo@hypermarket-a.test", "password of hypermarket").await;
        let (status, _, _) = send(&server, "hypermarket", Method::POST, "/api/v1/me/totp", &[], None).await;
        assert_eq!(status, 403, "a token does not set up a second factor");
        let (status, offer) = as_session(&server, &dpo, Method::POST, "/api/v1/me/totp", None).await;
        assert_eq!(status, 200, "{offer}");
        let key = offer["key"].as_str().unwrap().to_owned();
        assert!(offer["uri"].as_str().unwrap().starts_with("otpauth://totp/Custos:dpo%40hypermarket-a.test?secret="));
        let (status, body) = as_session(&server, &dpo, Method::POST, "/api/v1/me/totp/confirm", Some(json!({"code": "000000"}))).await;
        assert_eq!(status, 422, "{body}");
        let first = code(&key, &clock);
        let (status, body) = as_session(&server, &dpo, Method::POST, "/api/v1/me/totp/confirm", Some(json!({"code": first}))).await;
        assert_eq!(status, 200, "{body}");
        let recovery: Vec<String> = body["recovery_codes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_owned()).collect();
        assert_eq!(recovery.len(), 10);
        let password = json!({"email": "dpo@hypermarket-a.test", "password": "password of hypermarket"});
        let with = |code: &str| {
            let mut body = password.clone();
            body["code"] = code.into();
            body
        };
        let (status, body) = sign_in(&server, password.clone()).await;
        assert_eq!(status, 401);
        assert!(body["detail"].as_str().unwrap().contains("second factor"), "{body}");
        let (status, _) = sign_in(&server, with(&first)).await;
        assert_eq!(status, 401, "the code that confirmed the key is used up");
        clock.advance(SignedDuration::from_secs(30));
        let second = code(&key, &clock);
        let (status, _) = sign_in(&server, with(&second)).await;
        assert_eq!(status, 200);
        let (status, _) = sign_in(&server, with(&second)).await;
        assert_eq!(status, 401, "a code seen over a shoulder is not taken again");
        let (status, _) = sign_in(&server, with(&recovery[0])).await;
        assert_eq!(status, 200);
        let (status, _) = sign_in(&server, with(&recovery[0])).await;
        assert_eq!(status, 401, "a recovery code works once");

        // The pages: the password, then the code, then the page asked for.
        let login = server.client.get(server.url("/login?next=/findings")).send().await.unwrap();
        let login_csrf_cookie = login.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
        let csrf = login_csrf_cookie.split_once('=').unwrap().1.to_owned();
        let step = server
            .client
            .post(server.url("/login"))
            .header("cookie", &login_csrf_cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("csrf={csrf}&email=dpo%40hypermarket-a.test&password=password+of+hypermarket&next=/findings"))
            .send()
            .await
            .unwrap();
        assert_eq!(step.status().as_u16(), 200);
        let cookies: Vec<String> = step.headers().get_all("set-cookie").iter().map(|c| c.to_str().unwrap().split(';').next().unwrap().to_owned()).collect();
        assert!(!cookies.iter().any(|c| c.starts_with("custos_session=")), "no session before the code: {cookies:?}");
        let page = step.text().await.unwrap();
        assert!(page.contains("Two-factor sign-in") && page.contains("autocomplete=\"one-time-code\""), "{page}");
        let csrf = cookies.iter().find_map(|c| c.strip_prefix("custos_login_csrf=")).unwrap().to_owned();
        let jar = cookies.join("; ");
        let post_code = |code: String| {
            server
                .client
                .post(server.url("/login/code"))
                .header("cookie", &jar)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(format!("csrf={csrf}&code={code}&email=dpo%40hypermarket-a.test&next=/findings"))
                .send()
        };
        let wrong = post_code("123456".to_owned()).await.unwrap();
        assert_eq!(wrong.status().as_u16(), 401);
        assert!(wrong.text().await.unwrap().contains("This code is not right"));
        clock.advance(SignedDuration::from_secs(30));
        let right = post_code(code(&key, &clock)).await.unwrap();
        assert_eq!(right.status().as_u16(), 303);
        assert_eq!(right.headers()["location"], "/findings");
        assert!(right.headers().get_all("set-cookie").iter().any(|c| c.to_str().unwrap().starts_with("custos_session=")));
        // Turning it off needs a code; then the password alone signs in.
        clock.advance(SignedDuration::from_secs(30));
        let (status, _) = as_session(&server, &dpo, Method::POST, "/api/v1/me/totp/disable", Some(json!({"code": "999999"}))).await;
        assert_eq!(status, 422);
        let (status, _) = as_session(&server, &dpo, Method::POST, "/api/v1/me/totp/disable", Some(json!({"code": code(&key, &clock)}))).await;
        assert_eq!(status, 204);
        let (status, _) = sign_in(&server, password.clone()).await;
        assert_eq!(status, 200);
        server.stop().await;
    })
    .await;
}

#[tokio::test]
async fn an_organisation_that_requires_two_factor_holds_its_members_back_until_they_set_it_up() {
    on_every_backend_with_clock(|server, store, clock| async move {
        let mail = tempfile::tempdir().unwrap();
        let (status, _, _) = send(
            &server,
            "hypermarket",
            Method::PUT,
            "/api/v1/organisations/hypermarket-a/security",
            &[],
            Some(json!({"require_totp": true})),
        )
        .await;
        assert_eq!(status, 403, "an editor does not set it");
        let (status, _, _) = send(
            &server,
            "agency-b",
            Method::PUT,
            "/api/v1/organisations/hypermarket-a/security",
            &[],
            Some(json!({"require_totp": true})),
        )
        .await;
        assert_eq!(status, 403, "another organisation does not set it");
        let lead = invited_admin(
            &server,
            &store,
            &clock,
            mail.path(),
            "lead@hypermarket-a.test",
        )
        .await;
        // The lead has no second factor yet: requiring it holds the lead back too.
        let (status, body) = as_session(
            &server,
            &lead,
            Method::PUT,
            "/api/v1/organisations/hypermarket-a/security",
            Some(json!({"require_totp": true})),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let dpo = signed_in(&server, "dpo@hypermarket-a.test", "password of hypermarket").await;
        let (status, body) =
            as_session(&server, &dpo, Method::GET, "/api/v1/activities", None).await;
        assert_eq!(status, 403);
        assert!(
            body["detail"]
                .as_str()
                .unwrap()
                .contains("two-factor sign-in is required by hypermarket-a"),
            "{body}"
        );
        let (status, location, _) = {
            let response = server
                .client
                .get(server.url("/activities"))
                .header("cookie", &dpo.0)
                .send()
                .await
                .unwrap();
            (
                response.status().as_u16(),
                response
                    .headers()
                    .get("location")
                    .map(|l| l.to_str().unwrap().to_owned()),
                (),
            )
        };
        assert_eq!(
            (status, location.as_deref()),
            (303, Some("/settings/security"))
        );
        let (status, page) = get_page(&server, &dpo.0, "/settings/security").await;
        assert_eq!(status, 200);
        assert!(
            page.contains("hypermarket-a requires two-factor sign-in"),
            "{page}"
        );
        // Tokens of machines are not held back; other organisations' members neither.
        let (status, _) = server.get(Some("hypermarket"), "/api/v1/activities").await;
        assert_eq!(status, 200);
        let staff = signed_in(&server, "staff@agency-b.test", "password of agency-b").await;
        let (status, _) =
            as_session(&server, &staff, Method::GET, "/api/v1/activities", None).await;
        assert_eq!(status, 200);
        // Set up in the browser: the key with its QR code, then the code; then in.
        let (status, _, page) = post_form(
            &server,
            &dpo.0,
            "/settings/security/totp",
            format!("csrf={}", dpo.1),
        )
        .await;
        assert_eq!(status, 200);
        assert!(
            page.contains("<svg")
                && page.contains("otpauth://totp/Custos:dpo%40hypermarket-a.test"),
            "{page}"
        );
        let key = page
            .split("<code class=\"secret\">")
            .nth(1)
            .unwrap()
            .split("</code>")
            .next()
            .unwrap()
            .to_owned();
        let (status, _, page) = post_form(
            &server,
            &dpo.0,
            "/settings/security/totp/confirm",
            format!("csrf={}&code=000000", dpo.1),
        )
        .await;
        assert_eq!(status, 422);
        assert!(page.contains("not the code the app shows"), "{page}");
        let (status, _, page) = post_form(
            &server,
            &dpo.0,
            "/settings/security/totp/confirm",
            format!("csrf={}&code={}", dpo.1, code(&key, &clock)),
        )
        .await;
        assert_eq!(status, 200);
        assert!(page.contains("Your recovery codes"), "{page}");
        let (status, _) = as_session(&server, &dpo, Method::GET, "/api/v1/activities", None).await;
        assert_eq!(status, 200, "set up: no longer held back");
        // A forged form is refused.
        let (status, _, _) = post_form(
            &server,
            &dpo.0,
            "/settings/security/totp/disable",
            "csrf=forged&code=1".to_owned(),
        )
        .await;
        assert_eq!(status, 403);
        server.stop().await;
    })
    .await;
}

#[tokio::test]
async fn oauth_clients_obtain_short_lived_tokens_with_their_credentials() {
    on_every_backend_with_clock(|server, _store, clock| async move {
        let dpo = signed_in(&server, "dpo@hypermarket-a.test", "password of hypermarket").await;
        let (status, _, _) = send(
            &server,
            "hypermarket",
            Method::POST,
            "/api/v1/clients",
            &[],
            Some(json!({"name": "erp"})),
        )
        .await;
        assert_eq!(status, 403, "clients are registered from a session");
        let (status, created) = as_session(
            &server,
            &dpo,
            Method::POST,
            "/api/v1/clients",
            Some(json!({"name": "erp", "scopes": ["read"]})),
        )
        .await;
        assert_eq!(status, 201, "{created}");
        let id = created["client_id"].as_str().unwrap().to_owned();
        let secret = created["client_secret"].as_str().unwrap().to_owned();
        let grant = |body: String, basic: Option<(&str, &str)>| {
            let mut request = server
                .client
                .post(server.url("/api/v1/oauth/token"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body);
            if let Some((user, password)) = basic {
                request = request.basic_auth(user, Some(password));
            }
            request.send()
        };
        let answer = grant(
            "grant_type=client_credentials".to_owned(),
            Some((&id, &secret)),
        )
        .await
        .unwrap();
        assert_eq!(answer.status().as_u16(), 200);
        assert_eq!(answer.headers()["cache-control"], "no-store");
        let token: Value = answer.json().await.unwrap();
        assert_eq!(token["token_type"], "Bearer");
        assert_eq!(token["expires_in"], 3600);
        assert_eq!(token["scope"], "read");
        let access = token["access_token"].as_str().unwrap().to_owned();
        let me = server
            .client
            .get(server.url("/api/v1/me"))
            .bearer_auth(&access)
            .send()
            .await
            .unwrap();
        assert_eq!(me.status().as_u16(), 200);
        let write = server
            .client
            .post(server.url("/api/v1/organisations"))
            .bearer_auth(&access)
            .json(&json!({"id": "x-new", "name": "X", "country": "ES"}))
            .send()
            .await
            .unwrap();
        assert_eq!(write.status().as_u16(), 403, "a read client writes nothing");
        // Refusals as RFC 6749 says.
        let wrong = grant(
            "grant_type=client_credentials".to_owned(),
            Some((&id, "not the secret")),
        )
        .await
        .unwrap();
        assert_eq!(wrong.status().as_u16(), 401);
        assert_eq!(
            wrong.headers()["www-authenticate"],
            "Basic realm=\"custos\""
        );
        assert_eq!(
            wrong.json::<Value>().await.unwrap()["error"],
            "invalid_client"
        );
        let grant_type = grant(
            "grant_type=password&username=a&password=b".to_owned(),
            Some((&id, &secret)),
        )
        .await
        .unwrap();
        assert_eq!(grant_type.status().as_u16(), 400);
        assert_eq!(
            grant_type.json::<Value>().await.unwrap()["error"],
            "unsupported_grant_type"
        );
        let scope = grant(
            "grant_type=client_credentials&scope=read+write".to_owned(),
            Some((&id, &secret)),
        )
        .await
        .unwrap();
        assert_eq!(scope.status().as_u16(), 400);
        assert_eq!(
            scope.json::<Value>().await.unwrap()["error"],
            "invalid_scope"
        );
        let in_body = grant(
            format!(
                "grant_type=client_credentials&client_id={id}&client_secret={secret}&scope=read"
            ),
            None,
        )
        .await
        .unwrap();
        assert_eq!(in_body.status().as_u16(), 200);
        // An hour later the token is refused.
        clock.advance(SignedDuration::from_secs(3601));
        let me = server
            .client
            .get(server.url("/api/v1/me"))
            .bearer_auth(&access)
            .send()
            .await
            .unwrap();
        assert_eq!(me.status().as_u16(), 401);
        // Another party cannot revoke it; its owner can, with every token it holds.
        let fresh: Value = grant(
            "grant_type=client_credentials".to_owned(),
            Some((&id, &secret)),
        )
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        let fresh = fresh["access_token"].as_str().unwrap().to_owned();
        let (status, _, _) = send(
            &server,
            "agency-b",
            Method::DELETE,
            &format!("/api/v1/clients/{id}"),
            &[],
            None,
        )
        .await;
        assert_eq!(status, 404);
        let (status, list) = as_session(&server, &dpo, Method::GET, "/api/v1/clients", None).await;
        assert_eq!(status, 200);
        assert_eq!(list["items"][0]["client_id"], id.as_str());
        assert!(list["items"][0].get("secret_hash").is_none(), "{list}");
        let (status, tokens) = as_session(&server, &dpo, Method::GET, "/api/v1/tokens", None).await;
        assert_eq!(status, 200);
        assert!(
            !tokens.to_string().contains("client:"),
            "a client's tokens are not listed as the person's: {tokens}"
        );
        let (status, _) = as_session(
            &server,
            &dpo,
            Method::DELETE,
            &format!("/api/v1/clients/{id}"),
            None,
        )
        .await;
        assert_eq!(status, 204);
        let me = server
            .client
            .get(server.url("/api/v1/me"))
            .bearer_auth(&fresh)
            .send()
            .await
            .unwrap();
        assert_eq!(me.status().as_u16(), 401, "its tokens go with it");
        let after = grant(
            "grant_type=client_credentials".to_owned(),
            Some((&id, &secret)),
        )
        .await
        .unwrap();
        assert_eq!(after.status().as_u16(), 401);
        server.stop().await;
    })
    .await;
}

#[tokio::test]
async fn the_people_pages_invite_change_roles_and_disable_with_confirmation() {
    on_every_backend_with_clock(|server, store, clock| async move {
        let mail = tempfile::tempdir().unwrap();
        let lead = invited_admin(
            &server,
            &store,
            &clock,
            mail.path(),
            "lead@hypermarket-a.test",
        )
        .await;
        let (cookie, csrf) = (&lead.0, &lead.1);
        let (status, page) = get_page(&server, cookie, "/people").await;
        assert_eq!(status, 200);
        assert!(
            page.contains("dpo@hypermarket-a.test") && !page.contains("staff@agency-b.test"),
            "{page}"
        );
        // A refused invitation keeps what was typed.
        let (status, _, page) = post_form(
            &server,
            cookie,
            "/people",
            format!("csrf={csrf}&email=not-an-address&organisation=hypermarket-a&role=viewer"),
        )
        .await;
        assert_eq!(status, 422);
        assert!(page.contains("value=\"not-an-address\""), "{page}");
        let (status, _, page) = post_form(
            &server,
            cookie,
            "/people",
            format!(
                "csrf={csrf}&email=new%40hypermarket-a.test&organisation=hypermarket-a&role=viewer"
            ),
        )
        .await;
        assert_eq!(status, 200);
        assert!(
            page.contains("The invitation is on its way to new@hypermarket-a.test"),
            "{page}"
        );
        let (status, _, _) = post_form(
            &server,
            cookie,
            "/people",
            format!("csrf={csrf}&email=x%40agency-b.test&organisation=agency-b&role=viewer"),
        )
        .await;
        assert_eq!(status, 403);
        // A person's page: the role changed, the account disabled after a confirmation.
        let dpo = key_of(&server, "dpo@hypermarket-a.test").await;
        let (status, page) = get_page(&server, cookie, &format!("/people/{dpo}")).await;
        assert_eq!(status, 200);
        assert!(
            page.contains("<h1>dpo@hypermarket-a.test</h1>") && page.contains("Disable…"),
            "{page}"
        );
        let (status, _, page) = post_form(
            &server,
            cookie,
            &format!("/people/{dpo}/memberships"),
            format!("csrf={csrf}&organisation=hypermarket-a&role=viewer"),
        )
        .await;
        assert_eq!(status, 200);
        assert!(page.contains("Role in hypermarket-a: viewer."), "{page}");
        let (status, _, page) = post_form(
            &server,
            cookie,
            &format!("/people/{dpo}/disable"),
            format!("csrf={csrf}"),
        )
        .await;
        assert_eq!(status, 200);
        assert!(
            page.contains("Every session of the account ends now"),
            "{page}"
        );
        let (status, _) = server.get(Some("hypermarket"), "/api/v1/me").await;
        assert_eq!(status, 200, "asking is not doing");
        let (status, _, page) = post_form(
            &server,
            cookie,
            &format!("/people/{dpo}/disable"),
            format!("csrf={csrf}&confirm=yes"),
        )
        .await;
        assert_eq!(status, 200);
        assert!(
            page.contains("dpo@hypermarket-a.test is disabled."),
            "{page}"
        );
        let (status, _) = server.get(Some("hypermarket"), "/api/v1/me").await;
        assert_eq!(status, 401);
        // The wrong parties: a portal user sees its own access only; another organisation's
        // person is not there; a forged form does nothing.
        let staff = signed_in(&server, "staff@agency-b.test", "password of agency-b").await;
        let (status, page) = get_page(&server, &staff.0, "/people").await;
        assert_eq!(status, 200);
        assert!(
            page.contains("agency-b: portal") && !page.contains("dpo@hypermarket-a.test"),
            "{page}"
        );
        let (status, page) = get_page(&server, &staff.0, &format!("/people/{dpo}")).await;
        assert_eq!(status, 403, "administering nothing, it manages nobody");
        assert!(!page.contains("dpo@hypermarket-a.test"), "{page}");
        let (status, _, _) = post_form(
            &server,
            &staff.0,
            &format!("/people/{dpo}/enable"),
            format!("csrf={}&confirm=yes", staff.1),
        )
        .await;
        assert_eq!(status, 403);
        let (status, _, _) = post_form(
            &server,
            cookie,
            &format!("/people/{dpo}/enable"),
            "csrf=forged&confirm=yes".to_owned(),
        )
        .await;
        assert_eq!(status, 403);
        let (status, _) = server.get(Some("hypermarket"), "/api/v1/me").await;
        assert_eq!(status, 401, "still disabled");
        // Requiring two-factor from the page.
        let (status, _, page) = post_form(
            &server,
            cookie,
            "/people/security",
            format!("csrf={csrf}&organisation=hypermarket-a&require_totp=yes"),
        )
        .await;
        assert_eq!(status, 200);
        assert!(
            page.contains("hypermarket-a now requires two-factor sign-in"),
            "{page}"
        );
        server.stop().await;
    })
    .await;
}

#[tokio::test]
async fn pages_show_times_in_the_viewers_time_zone_named() {
    on_every_backend_with_clock(|server, _store, _clock| async move {
        let dpo = signed_in(&server, "dpo@hypermarket-a.test", "password of hypermarket").await;
        // The tokens page shows when the test's token was made: 2026-11-25 10:00 UTC.
        let (_, page) = get_page(&server, &dpo.0, "/settings/tokens").await;
        assert!(page.contains("2026-11-25 10:00 UTC"), "{page}");
        // The organisation's zone, for its people who chose none.
        let mut organisation = set_on_organisation(
            &server,
            "hypermarket",
            "hypermarket-a",
            "time_zone",
            json!("Europe/Madrid"),
        )
        .await;
        let (_, page) = get_page(&server, &dpo.0, "/settings/tokens").await;
        assert!(page.contains("2026-11-25 11:00 CET"), "{page}");
        organisation["time_zone"] = json!("Mars/Olympus");
        let (status, _, body) = send(
            &server,
            "admin",
            Method::PUT,
            "/api/v1/organisations/hypermarket-a",
            &[("if-match", "*")],
            Some(organisation),
        )
        .await;
        assert_eq!(status, 422, "{body}");
        // One's own zone wins; a name that is not a zone is refused at its field.
        let (status, body) = as_session(
            &server,
            &dpo,
            Method::PUT,
            "/api/v1/me/preferences",
            Some(json!({"time_zone": "Nowhere/City"})),
        )
        .await;
        assert_eq!(status, 422);
        assert_eq!(body["field"], "time_zone");
        let (status, body) = as_session(
            &server,
            &dpo,
            Method::PUT,
            "/api/v1/me/preferences",
            Some(json!({"time_zone": "America/New_York"})),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let (_, page) = get_page(&server, &dpo.0, "/settings/tokens").await;
        assert!(page.contains("2026-11-25 05:00 EST"), "{page}");
        // The page's form too, back to the organisation's.
        let (status, _, page) = post_form(
            &server,
            &dpo.0,
            "/settings/security/preferences",
            format!("csrf={}&time_zone=&language=", dpo.1),
        )
        .await;
        assert_eq!(status, 200);
        assert!(page.contains("times and words are as you chose"), "{page}");
        let (_, page) = get_page(&server, &dpo.0, "/settings/tokens").await;
        assert!(page.contains("2026-11-25 11:00 CET"), "{page}");
        // Another party's people keep theirs; JSON keeps machine time.
        let staff = signed_in(&server, "staff@agency-b.test", "password of agency-b").await;
        let (_, page) = get_page(&server, &staff.0, "/settings/tokens").await;
        assert!(page.contains("2026-11-25 10:00 UTC"), "{page}");
        let (_, tokens) = as_session(&server, &dpo, Method::GET, "/api/v1/tokens", None).await;
        assert_eq!(tokens["items"][0]["created_at"], "2026-11-25T10:00:00Z");
        server.stop().await;
    })
    .await;
}

/// The audit viewer's days are the viewer's: an entry written at 23:30 UTC on 25 November is
/// on 26 November for someone in Madrid, and found under that day.
#[tokio::test]
async fn the_audit_viewer_filters_days_in_the_viewers_zone() {
    on_every_backend_with_clock(|server, _store, clock| async move {
        clock.set("2026-11-25T23:30:00Z".parse().unwrap());
        let admin = signed_in(&server, "admin@custos.test", "password of admin").await;
        let (status, body) = as_session(
            &server,
            &admin,
            Method::PUT,
            "/api/v1/me/preferences",
            Some(json!({"time_zone": "Europe/Madrid"})),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let day = |day: &str| format!("/audit?action=set_preferences&from={day}&until={day}");
        let (status, page) = get_page(&server, &admin.0, &day("2026-11-26")).await;
        assert_eq!(status, 200);
        assert!(!page.contains("No entry matches"), "{page}");
        assert!(page.contains("2026-11-26 00:30 CET"), "{page}");
        let (_, page) = get_page(&server, &admin.0, &day("2026-11-25")).await;
        assert!(page.contains("No entry matches"), "{page}");
        // The export takes the same days.
        let (_, csv) = get_page(
            &server,
            &admin.0,
            &format!("{}&format=csv", day("2026-11-26")),
        )
        .await;
        assert_eq!(csv.lines().count(), 2, "the head and the one entry: {csv}");
        server.stop().await;
    })
    .await;
}

/// Pages in the viewer's language (issue 19, item 7): the organisation's, else one's own
/// choice (API and settings page), English by default; for someone not signed in, what the
/// browser asks for. Other organisations' people keep theirs.
#[tokio::test]
async fn pages_speak_the_viewers_language() {
    on_every_backend_with_clock(|server, _store, _clock| async move {
        let dpo = signed_in(&server, "dpo@hypermarket-a.test", "password of hypermarket").await;
        let (_, page) = get_page(&server, &dpo.0, "/").await;
        assert!(page.contains(r#"<html lang="en">"#), "{page}");
        assert!(page.contains("What is due"), "{page}");
        // The organisation's language, for its people who chose none.
        set_on_organisation(
            &server,
            "hypermarket",
            "hypermarket-a",
            "language",
            json!("es"),
        )
        .await;
        let (_, page) = get_page(&server, &dpo.0, "/").await;
        assert!(page.contains(r#"<html lang="es">"#), "{page}");
        for spanish in [
            "Qué vence",
            "Actividades",
            "Cerrar sesión",
            "Solicitudes de interesados",
        ] {
            assert!(page.contains(spanish), "{spanish} missing in {page}");
        }
        assert!(!page.contains("What is due"), "{page}");
        let (_, page) = get_page(&server, &dpo.0, "/activities").await;
        assert!(page.contains("Actividades de tratamiento"), "{page}");
        let (_, page) = get_page(&server, &dpo.0, "/subject-requests").await;
        assert!(page.contains("Registrar la solicitud"), "{page}");
        // Another organisation's people keep theirs.
        let staff = signed_in(&server, "staff@agency-b.test", "password of agency-b").await;
        let (_, page) = get_page(&server, &staff.0, "/").await;
        assert!(page.contains("What is due"), "{page}");
        // One's own choice wins; a language Custos does not speak is refused at its field.
        let (status, body) = as_session(
            &server,
            &dpo,
            Method::PUT,
            "/api/v1/me/preferences",
            Some(json!({"language": "fr"})),
        )
        .await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(body["field"], "language");
        let (status, body) = as_session(
            &server,
            &dpo,
            Method::PUT,
            "/api/v1/me/preferences",
            Some(json!({"language": "en", "time_zone": null})),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body, json!({"language": "en", "time_zone": null}));
        let (_, page) = get_page(&server, &dpo.0, "/findings").await;
        assert!(page.contains(r#"<html lang="en">"#), "{page}");
        assert!(page.contains("What the checks find"), "{page}");
        // The agency's portal user chooses Spanish on the settings page.
        let (status, _, page) = post_form(
            &server,
            &staff.0,
            "/settings/security/preferences",
            format!("csrf={}&time_zone=&language=es", staff.1),
        )
        .await;
        assert_eq!(status, 200);
        // Said in the language the form was asked in; the next page speaks the new one.
        assert!(page.contains("times and words are as you chose"), "{page}");
        let (_, page) = get_page(&server, &staff.0, "/settings/security").await;
        assert!(page.contains(r#"<option value="es" selected>"#), "{page}");
        assert!(page.contains("Inicio de sesión y seguridad"), "{page}");
        // Not signed in: what the browser asks for.
        let login = |language: &'static str| {
            let request = server.client.get(server.url("/login"));
            async move {
                let request = if language.is_empty() {
                    request
                } else {
                    request.header("accept-language", language)
                };
                request.send().await.unwrap().text().await.unwrap()
            }
        };
        assert!(
            login("es-ES,es;q=0.9")
                .await
                .contains("Iniciar sesión en Custos")
        );
        assert!(login("de-DE,en;q=0.5").await.contains("Sign in to Custos"));
        assert!(login("").await.contains("Sign in to Custos"));
        server.stop().await;
    })
    .await;
}

/// Every people route the other tests leave out, tried by the wrong party: a read-only token,
/// any token where a session is needed, a portal user at an admin's forms, another person at
/// one's OAuth2 client, the public.
#[tokio::test]
async fn the_people_routes_refuse_the_wrong_parties() {
    on_every_backend_with_clock(|server, store, _clock| async move {
        crate::give_token(&store, "admin@custos.test", "read-only", "custos_admin-read-only",
            vec![custos_app::data::Scope::Read]).await;
        let dpo_key = key_of(&server, "dpo@hypermarket-a.test").await;
        let read_only = |method: Method, path: String, body: Value| {
            server.client.request(method, server.url(&path)).bearer_auth("custos_admin-read-only").json(&body).send()
        };
        for (method, path, body) in [
            (Method::POST, "/api/v1/users".to_owned(), json!({"email": "x@hypermarket-a.test", "memberships": [{"organisation": "hypermarket-a", "role": "viewer"}]})),
            (Method::PUT, format!("/api/v1/users/{dpo_key}/memberships"), json!({"memberships": [{"organisation": "hypermarket-a", "role": "viewer"}]})),
            (Method::POST, format!("/api/v1/users/{dpo_key}/disable"), json!({})),
            (Method::DELETE, format!("/api/v1/users/{dpo_key}"), json!({})),
            (Method::PUT, "/api/v1/organisations/hypermarket-a/security".to_owned(), json!({"require_totp": true})),
            (Method::PUT, "/api/v1/me/preferences".to_owned(), json!({"time_zone": "Europe/Madrid"})),
            (Method::GET, "/api/v1/clients".to_owned(), json!({})),
        ] {
            let status = read_only(method.clone(), path.clone(), body).await.unwrap().status().as_u16();
            assert_eq!(status, 403, "a read-only token: {method} {path}");
        }
        // One's password and second factor are changed from a session, not with a token.
        for (method, path, body) in [
            (Method::PUT, "/api/v1/me/password", json!({"current_password": "password of hypermarket", "new_password": "a new long password"})),
            (Method::POST, "/api/v1/me/totp/confirm", json!({"code": "123456"})),
            (Method::POST, "/api/v1/me/totp/disable", json!({"code": "123456"})),
            (Method::POST, "/api/v1/me/recovery-codes", json!({"code": "123456"})),
        ] {
            let (status, _, _) = send(&server, "hypermarket", method.clone(), path, &[], Some(body)).await;
            assert_eq!(status, 403, "a token: {method} {path}");
        }
        // A portal user at an admin's forms.
        let staff = signed_in(&server, "staff@agency-b.test", "password of agency-b").await;
        let (status, _, _) = post_form(&server, &staff.0, "/people",
            format!("csrf={}&email=x%40agency-b.test&organisation=agency-b&role=viewer", staff.1)).await;
        assert_eq!(status, 403);
        let (status, _, _) = post_form(&server, &staff.0, "/people/security",
            format!("csrf={}&organisation=agency-b&require_totp=yes", staff.1)).await;
        assert_eq!(status, 403);
        // One's preferences from the page: a forged form, the public.
        let (status, _, _) = post_form(&server, &staff.0, "/settings/security/preferences",
            "csrf=forged&time_zone=&language=es".to_owned()).await;
        assert_eq!(status, 403);
        let (_, page) = get_page(&server, &staff.0, "/").await;
        assert!(page.contains(r#"<html lang="en">"#), "the forged form changed nothing: {page}");
        let public = server.client.post(server.url("/settings/security/preferences"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("csrf=x&time_zone=&language=es").send().await.unwrap();
        assert_eq!(public.status().as_u16(), 303, "the public is sent to sign in");
        assert!(public.headers()["location"].to_str().unwrap().starts_with("/login"));
        // Another person's OAuth2 client, from the page.
        let dpo = signed_in(&server, "dpo@hypermarket-a.test", "password of hypermarket").await;
        let (status, created) = as_session(&server, &dpo, Method::POST, "/api/v1/clients", Some(json!({"name": "erp"}))).await;
        assert_eq!(status, 201);
        let client = created["client_id"].as_str().unwrap();
        let (status, _, _) = post_form(&server, &staff.0, &format!("/settings/clients/{client}/revoke"),
            format!("csrf={}&confirm=yes", staff.1)).await;
        assert_eq!(status, 404);
        let (_, list) = as_session(&server, &dpo, Method::GET, "/api/v1/clients", None).await;
        assert!(list["items"][0]["revoked_at"].is_null(), "{list}");
        // The public.
        for path in ["/api/v1/users", "/api/v1/clients"] {
            let status = server.client.get(server.url(path)).send().await.unwrap().status().as_u16();
            assert_eq!(status, 401, "{path}");
        }
        let status = server.client.get(server.url("/people")).send().await.unwrap().status().as_u16();
        assert_eq!(status, 303, "to the sign-in page");
        server.stop().await;
    })
    .await;
}
