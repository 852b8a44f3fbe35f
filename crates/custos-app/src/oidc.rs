//! Signing in with OpenID Connect: the authorization code flow with PKCE (S256), a state
//! bound to the browser and a nonce bound to the ID token, the ID token verified by the
//! `openidconnect` crate (signature against the provider's keys, issuer, audience, expiry,
//! nonce), the e-mail address and memberships read from the ID token or the UserInfo endpoint;
//! RP-initiated logout at the provider. One provider per instance, configured by its operator
//! (docs/people.md).
//!
//! Which account: the one linked to the provider's subject; else the one with the verified
//! e-mail address (an invitation accepted this way is linked); else, when the membership
//! claim names organisations of the register, a new account with those roles. Anyone else is
//! refused: an administrator must invite them. With the membership claim configured, every
//! sign-in gives the roles it names (roles granted by invitation stay).

use std::sync::Arc;
use std::time::{Duration, Instant};

use custos_store::{OidcPending, Role, User};
use jiff::{SignedDuration, Timestamp};
use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreErrorResponseType, CoreGenderClaim, CoreJsonWebKey,
    CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm, CoreResponseType,
    CoreRevocableToken, CoreRevocationErrorResponse, CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    AdditionalClaims, AuthenticationFlow, AuthorizationCode, Client, ClientId, ClientSecret,
    CsrfToken, EmptyExtraTokenFields, EndpointMaybeSet, EndpointNotSet, EndpointSet, IdTokenFields,
    IssuerUrl, LogoutRequest, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier,
    PostLogoutRedirectUrl, ProviderMetadataWithLogout, RedirectUrl, Scope, StandardErrorResponse,
    StandardTokenResponse, TokenResponse,
};
use serde_json::json;

use crate::audit::Actor;
use crate::sessions::{SignedIn, hash_secret};
use crate::{AppError, Store};

/// How long a sign-in may take at the provider.
const PENDING_MINUTES: i64 = 10;
/// How long the provider's metadata and keys are kept before they are fetched again.
const METADATA_TTL: Duration = Duration::from_secs(3600);

/// The instance's provider, as its operator configures it.
#[derive(Debug, Clone)]
pub struct OidcSettings {
    /// The issuer (its discovery document is `ISSUER/.well-known/openid-configuration`).
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    /// This instance's public address: the callback is `PUBLIC_URL/login/oidc/callback`, the
    /// provider sends people back to `PUBLIC_URL/login` after logging out.
    pub public_url: String,
    /// A claim of `organisation=role` values (`hypermarket-a=editor`) giving roles.
    pub membership_claim: Option<String>,
    /// What the sign-in button says ("Sign in with {label}").
    pub label: String,
}

/// Every claim beyond the standard ones (the membership claim among them).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
struct OtherClaims {
    #[serde(flatten)]
    claims: serde_json::Map<String, serde_json::Value>,
}

impl AdditionalClaims for OtherClaims {}

type Fields = IdTokenFields<
    OtherClaims,
    EmptyExtraTokenFields,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;
type Tokens = StandardTokenResponse<Fields, CoreTokenType>;
type OidcClient = Client<
    OtherClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    Tokens,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

struct Discovered {
    client: OidcClient,
    end_session: Option<openidconnect::EndSessionUrl>,
    fetched: Instant,
}

/// The provider of an instance: its metadata fetched on first use and kept an hour.
pub struct Oidc {
    settings: OidcSettings,
    issuer: IssuerUrl,
    redirect: RedirectUrl,
    after_logout: PostLogoutRedirectUrl,
    http: Http,
    discovered: tokio::sync::Mutex<Option<Arc<Discovered>>>,
}

impl std::fmt::Debug for Oidc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Oidc")
            .field("issuer", &self.settings.issuer)
            .field("client_id", &self.settings.client_id)
            .finish_non_exhaustive()
    }
}

/// Why a sign-in through the provider was refused: each says what the person can do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the sign-in did not start in this browser, or was already used: start again")]
    State,
    #[error("the sign-in took too long: start again")]
    Expired,
    #[error("the provider refused the sign-in: {0}")]
    Provider(String),
    #[error("the provider's answer could not be verified ({0}): start again")]
    Unverified(String),
    #[error("the provider did not give a verified e-mail address")]
    NoEmail,
    #[error(
        "there is no account here for {0}: ask an administrator of your organisation to invite you"
    )]
    NoAccount(String),
    #[error("this account is disabled: ask an administrator of your organisation")]
    Disabled,
}

/// A finished sign-in: the session, and where the person was going.
#[derive(Debug)]
pub struct Finished {
    pub signed_in: SignedIn,
    pub next: String,
}

fn config_error(what: &str, error: impl std::fmt::Display) -> AppError {
    AppError::Invalid(format!("OpenID Connect {what}: {error}"))
}

impl Oidc {
    pub fn new(settings: OidcSettings) -> Result<Self, AppError> {
        let issuer =
            IssuerUrl::new(settings.issuer.clone()).map_err(|e| config_error("issuer", e))?;
        let base = settings.public_url.trim_end_matches('/');
        let redirect = RedirectUrl::new(format!("{base}/login/oidc/callback"))
            .map_err(|e| config_error("public URL", e))?;
        let after_logout = PostLogoutRedirectUrl::new(format!("{base}/login"))
            .map_err(|e| config_error("public URL", e))?;
        // No redirects: following them would let a provider's answer lead anywhere (SSRF).
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .user_agent("Custos (OpenID Connect)")
            .build()
            .map_err(|e| config_error("HTTP client", e))?;
        Ok(Self {
            settings,
            issuer,
            redirect,
            after_logout,
            http: Http(http),
            discovered: tokio::sync::Mutex::new(None),
        })
    }

    pub fn label(&self) -> &str {
        &self.settings.label
    }

    /// The provider's origin (`https://id.example`), where the browser is sent.
    pub fn issuer_origin(&self) -> Option<String> {
        let origin = self.issuer.url().origin();
        origin.is_tuple().then(|| origin.ascii_serialization())
    }

    /// The provider's metadata and keys: fetched when first needed, again after an hour.
    async fn provider(&self) -> Result<Arc<Discovered>, AppError> {
        let mut cached = self.discovered.lock().await;
        if let Some(discovered) = cached.as_ref()
            && discovered.fetched.elapsed() < METADATA_TTL
        {
            return Ok(discovered.clone());
        }
        let metadata = ProviderMetadataWithLogout::discover_async(self.issuer.clone(), &self.http)
            .await
            .map_err(|e| {
                AppError::Invalid(format!("the OpenID Provider could not be reached: {e}"))
            })?;
        let end_session = metadata.additional_metadata().end_session_endpoint.clone();
        let client = OidcClient::from_provider_metadata(
            metadata,
            ClientId::new(self.settings.client_id.clone()),
            Some(ClientSecret::new(self.settings.client_secret.clone())),
        )
        .set_redirect_uri(self.redirect.clone());
        let discovered = Arc::new(Discovered {
            client,
            end_session,
            fetched: Instant::now(),
        });
        *cached = Some(discovered.clone());
        Ok(discovered)
    }

    /// Starts a sign-in: where to send the browser, and the state to bind to it (a cookie).
    pub async fn begin(
        &self,
        store: &Store,
        next: &str,
        now: Timestamp,
    ) -> Result<(String, String), AppError> {
        let provider = self.provider().await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = provider
            .client
            .authorize_url(
                AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("email".to_owned()))
            .set_pkce_challenge(challenge);
        if let Some(claim) = &self.settings.membership_claim {
            // Providers give custom claims for a scope of the same name, where configured.
            request = request.add_scope(Scope::new(claim.clone()));
        }
        let (url, state, nonce) = request.url();
        let expires = now
            .checked_add(SignedDuration::from_mins(PENDING_MINUTES))
            .unwrap_or(now);
        let mut tx = store.begin().await?;
        tx.delete_expired_oidc_pending(&now.to_string()).await?;
        tx.insert_oidc_pending(
            &hash_secret(state.secret()),
            &OidcPending {
                verifier: verifier.secret().clone(),
                nonce: nonce.secret().clone(),
                next: next.to_owned(),
                expires_at: expires.to_string(),
            },
        )
        .await?;
        tx.commit().await?;
        Ok((url.to_string(), state.secret().clone()))
    }

    /// Finishes a sign-in from the provider's answer: the state must be the browser's own, the
    /// code is exchanged with the PKCE verifier, the ID token verified with the nonce.
    pub async fn finish(
        &self,
        store: &Store,
        answer: CallbackAnswer<'_>,
        known: &(dyn Fn(&str) -> bool + Sync),
        now: Timestamp,
    ) -> Result<Result<Finished, Refusal>, AppError> {
        let Some(state) = answer.state.filter(|s| Some(*s) == answer.browser_state) else {
            return Ok(Err(Refusal::State));
        };
        // Taken whatever follows: a state is used once.
        let mut tx = store.begin().await?;
        let pending = tx.take_oidc_pending(&hash_secret(state)).await?;
        tx.commit().await?;
        let Some(pending) = pending else {
            return Ok(Err(Refusal::State));
        };
        if pending
            .expires_at
            .parse::<Timestamp>()
            .is_ok_and(|at| at <= now)
        {
            return Ok(Err(Refusal::Expired));
        }
        // An answer naming another issuer is a mix-up (RFC 9207): its code is not ours to use.
        if answer.iss.is_some_and(|iss| {
            iss.trim_end_matches('/') != self.issuer.as_str().trim_end_matches('/')
        }) {
            return Ok(Err(Refusal::Unverified(
                "the answer names another issuer".to_owned(),
            )));
        }
        if let Some(error) = answer.error {
            return Ok(Err(Refusal::Provider(error.chars().take(200).collect())));
        }
        let Some(code) = answer.code else {
            return Ok(Err(Refusal::Provider("no code in the answer".to_owned())));
        };
        let provider = self.provider().await?;
        let http = &self.http;
        let tokens = match provider
            .client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| config_error("token endpoint", e))?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.verifier.clone()))
            .request_async(http)
            .await
        {
            Ok(tokens) => tokens,
            Err(error) => return Ok(Err(Refusal::Unverified(format!("token: {error}")))),
        };
        let Some(id_token) = tokens.id_token() else {
            return Ok(Err(Refusal::Unverified("no ID token".to_owned())));
        };
        let verifier = provider.client.id_token_verifier();
        let claims = match id_token.claims(&verifier, &Nonce::new(pending.nonce.clone())) {
            Ok(claims) => claims.clone(),
            Err(error) => return Ok(Err(Refusal::Unverified(error.to_string()))),
        };
        let subject = claims.subject().to_string();
        let mut email = claims.email().map(|e| e.to_string());
        let mut verified = claims.email_verified();
        let mut others = claims.additional_claims().claims.clone();
        // What the ID token leaves out, the UserInfo endpoint may say (for the same subject).
        if let Ok(request) = provider.client.user_info(
            tokens.access_token().clone(),
            Some(claims.subject().clone()),
        ) && let Ok(info) = request
            .request_async::<OtherClaims, _, CoreGenderClaim>(http)
            .await
        {
            if email.is_none() {
                email = info.email().map(|e| e.to_string());
                verified = info.email_verified();
            }
            for (name, value) in info.additional_claims().claims.clone() {
                others.entry(name).or_insert(value);
            }
        }
        let Some(email) = email.filter(|_| verified != Some(false)) else {
            return Ok(Err(Refusal::NoEmail));
        };
        let granted = self.memberships(&others, known);
        let id_token = id_token.to_string();
        let outcome = sign_in(
            store,
            Identity {
                issuer: self.issuer.as_str(),
                subject: &subject,
                email: &email.to_lowercase(),
                granted,
                id_token: &id_token,
            },
            now,
        )
        .await?;
        Ok(outcome.map(|signed_in| Finished {
            signed_in,
            next: pending.next,
        }))
    }

    /// The roles the membership claim gives, in organisations of the register.
    fn memberships(
        &self,
        claims: &serde_json::Map<String, serde_json::Value>,
        known: &(dyn Fn(&str) -> bool + Sync),
    ) -> Option<Vec<(String, Role)>> {
        let name = self.settings.membership_claim.as_ref()?;
        let values: Vec<String> = match claims.get(name)? {
            serde_json::Value::Array(items) => items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            serde_json::Value::String(one) => one.split([' ', ',']).map(str::to_owned).collect(),
            _ => return None,
        };
        Some(
            values
                .iter()
                .filter_map(|v| v.split_once('='))
                .filter_map(|(o, r)| Role::parse(r.trim()).map(|r| (o.trim().to_owned(), r)))
                .filter(|(o, _)| known(o))
                .collect(),
        )
    }

    /// Where to send the browser to log out at the provider too (RP-initiated logout), for a
    /// session started through it; None otherwise.
    pub async fn logout_url(
        &self,
        store: &Store,
        session_hash: &str,
    ) -> Result<Option<String>, AppError> {
        let mut tx = store.read().await?;
        let id_token = tx.oidc_session(session_hash).await?;
        tx.rollback().await?;
        let Some(id_token) = id_token else {
            return Ok(None);
        };
        let provider = self.provider().await?;
        let Some(end_session) = provider.end_session.clone() else {
            return Ok(None);
        };
        let mut request = LogoutRequest::from(end_session)
            .set_post_logout_redirect_uri(self.after_logout.clone())
            .set_client_id(ClientId::new(self.settings.client_id.clone()));
        if let Ok(token) = id_token.parse::<openidconnect::IdToken<
            OtherClaims,
            CoreGenderClaim,
            CoreJweContentEncryptionAlgorithm,
            CoreJwsSigningAlgorithm,
        >>() {
            request = request.set_id_token_hint(&token);
        }
        Ok(Some(request.http_get_url().to_string()))
    }
}

/// The provider's answer at the callback, with the state bound to the browser.
#[derive(Debug, Clone, Copy)]
pub struct CallbackAnswer<'a> {
    pub code: Option<&'a str>,
    /// The issuer the answer says it comes from (RFC 9207), when the provider says so.
    pub iss: Option<&'a str>,
    pub state: Option<&'a str>,
    pub error: Option<&'a str>,
    pub browser_state: Option<&'a str>,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HttpError(String);

/// The HTTP client the `openidconnect` crate talks to the provider with: the tree's reqwest
/// (the crate's own reqwest feature would pull another version), answers capped at 1 MiB.
struct Http(reqwest::Client);

impl<'c> openidconnect::AsyncHttpClient<'c> for Http {
    type Error = HttpError;
    type Future = std::pin::Pin<
        Box<
            dyn std::future::Future<Output = Result<openidconnect::HttpResponse, HttpError>>
                + Send
                + 'c,
        >,
    >;

    fn call(&'c self, request: openidconnect::HttpRequest) -> Self::Future {
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let mut outgoing = self
                .0
                .request(parts.method, parts.uri.to_string())
                .body(body);
            for (name, value) in &parts.headers {
                outgoing = outgoing.header(name, value);
            }
            let response = outgoing
                .send()
                .await
                .map_err(|e| HttpError(e.to_string()))?;
            let mut answer = openidconnect::http::Response::builder().status(response.status());
            for (name, value) in response.headers() {
                answer = answer.header(name, value);
            }
            let bytes = crate::outbound::read_capped(response, 1 << 20)
                .await
                .map_err(HttpError)?;
            answer.body(bytes).map_err(|e| HttpError(e.to_string()))
        })
    }
}

/// Who the provider says signed in.
struct Identity<'a> {
    issuer: &'a str,
    subject: &'a str,
    email: &'a str,
    /// The roles of the membership claim (None: no claim configured or given).
    granted: Option<Vec<(String, Role)>>,
    id_token: &'a str,
}

/// The account of `identity` (linked, found by address, or made from the claim), its roles
/// from the claim, and a session, audited.
async fn sign_in(
    store: &Store,
    identity: Identity<'_>,
    now: Timestamp,
) -> Result<Result<SignedIn, Refusal>, AppError> {
    let actor = Actor::new(format!("oidc:{}", identity.email), now);
    let mut tx = store.begin().await?;
    let linked = tx.oidc_identity(identity.issuer, identity.subject).await?;
    let user: Option<User> = match linked {
        Some(key) => tx.user_by_key(&key).await?,
        None => match tx.user_by_email(identity.email).await? {
            Some(user) => {
                tx.link_oidc_identity(
                    identity.issuer,
                    identity.subject,
                    &user.key,
                    &now.to_string(),
                )
                .await?;
                // An invitation accepted through the provider is used up.
                tx.close_account_links(
                    &user.key,
                    Some(crate::accounts::INVITATION),
                    &now.to_string(),
                )
                .await?;
                Some(user)
            }
            None => match identity.granted.as_deref() {
                Some(granted) if !granted.is_empty() => {
                    let user = tx
                        .insert_user(identity.email, "!", false, &now.to_string())
                        .await?;
                    tx.link_oidc_identity(
                        identity.issuer,
                        identity.subject,
                        &user.key,
                        &now.to_string(),
                    )
                    .await?;
                    tx.append_audit(vec![actor.entry(
                        "create",
                        "user",
                        &user.key,
                        granted.iter().map(|(o, _)| o.as_str()).collect::<Vec<_>>().join(" "),
                        None,
                        Some(json!({"email": user.email, "via": "oidc", "issuer": identity.issuer}).to_string()),
                    )])
                    .await?;
                    Some(user)
                }
                _ => None,
            },
        },
    };
    let Some(user) = user else {
        tx.append_audit(vec![actor.entry(
            "sign_in_refused",
            "session",
            identity.email,
            String::new(),
            None,
            Some(json!({"via": "oidc", "reason": "no account"}).to_string()),
        )])
        .await?;
        tx.commit().await?;
        return Ok(Err(Refusal::NoAccount(identity.email.to_owned())));
    };
    if user.disabled_at.is_some() {
        tx.commit().await?;
        return Ok(Err(Refusal::Disabled));
    }
    if let Some(granted) = &identity.granted {
        let before = tx.memberships(&user.key).await?;
        let changed: Vec<&(String, Role)> = granted
            .iter()
            .filter(|(o, r)| !before.iter().any(|m| m.organisation == *o && m.role == *r))
            .collect();
        for (organisation, role) in &changed {
            tx.set_membership(&user.key, organisation, *role).await?;
        }
        if !changed.is_empty() {
            tx.append_audit(vec![
                actor.entry(
                    "set_memberships",
                    "user",
                    &user.key,
                    changed
                        .iter()
                        .map(|(o, _)| o.as_str())
                        .collect::<Vec<_>>()
                        .join(" "),
                    None,
                    Some(
                        json!({"via": "oidc claim", "memberships": changed.iter()
                    .map(|(o, r)| json!({"organisation": o, "role": r})).collect::<Vec<_>>()})
                        .to_string(),
                    ),
                ),
            ])
            .await?;
        }
    }
    tx.commit().await?;
    let signed_in = crate::sessions::start(store, user, now, "oidc").await?;
    let mut tx = store.begin().await?;
    tx.insert_oidc_session(&hash_secret(&signed_in.session_id), identity.id_token)
        .await?;
    tx.commit().await?;
    Ok(Ok(signed_in))
}
