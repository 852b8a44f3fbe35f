//! Requests the instance sends on its users' behalf (webhooks, data sources, portability
//! transmissions) go to the public internet only. Any organisation's editor names those URLs,
//! and the intake form names a transmission target: without this, they could make the server
//! call its own API, its database port or a cloud metadata service, and read what answered in
//! a delivery log. One policy builds every client: the host is resolved and every address
//! checked at connect time (a name that resolves to loopback is refused like the literal), no
//! redirect is followed, time is bounded, and answers are read with a size cap.
//! `CUSTOS_ALLOW_PRIVATE_TARGETS=1` lifts the address check for intranet deployments (and the
//! test suite's loopback receivers, which say so explicitly).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use crate::AppError;

/// Where the instance may send requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Outbound {
    /// Also private, loopback and link-local addresses (an intranet deployment).
    pub allow_private: bool,
}

impl Outbound {
    /// Public addresses only: the default.
    pub const PUBLIC_ONLY: Self = Self {
        allow_private: false,
    };

    /// Every address, private ranges included: only for intranet deployments and tests.
    pub const ANYWHERE: Self = Self {
        allow_private: true,
    };

    /// The instance's setting: `CUSTOS_ALLOW_PRIVATE_TARGETS` (`1` or `true`), off by default.
    pub fn from_env() -> Self {
        let allow = std::env::var("CUSTOS_ALLOW_PRIVATE_TARGETS")
            .is_ok_and(|v| matches!(v.trim(), "1" | "true" | "yes"));
        Self {
            allow_private: allow,
        }
    }

    /// Checks a URL named by a user (`field` names it in the error): http(s), a host, and not
    /// an address this instance does not send to. Names are checked again when connecting.
    pub fn check_url(&self, field: &str, raw: &str) -> Result<reqwest::Url, AppError> {
        if raw.len() > 2000 {
            return Err(AppError::Invalid(format!(
                "{field}: expected at most 2000 characters"
            )));
        }
        let url =
            reqwest::Url::parse(raw).map_err(|e| AppError::Invalid(format!("{field}: {e}")))?;
        if !matches!(url.scheme(), "https" | "http") {
            return Err(AppError::Invalid(format!(
                "{field}: expected an http(s) URL"
            )));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(AppError::Invalid(format!(
                "{field}: credentials in the URL are not accepted"
            )));
        }
        let refused = |what: &str| {
            AppError::Invalid(format!(
                "{field}: {what} is a loopback, private, link-local or otherwise internal address, which this instance does not send to (an operator of an intranet deployment may allow them with CUSTOS_ALLOW_PRIVATE_TARGETS)"
            ))
        };
        match url.host() {
            None => return Err(AppError::Invalid(format!("{field}: the URL names no host"))),
            Some(url::Host::Ipv4(ip)) if !self.allow_private && internal(IpAddr::V4(ip)) => {
                return Err(refused(&ip.to_string()));
            }
            Some(url::Host::Ipv6(ip)) if !self.allow_private && internal(IpAddr::V6(ip)) => {
                return Err(refused(&ip.to_string()));
            }
            Some(url::Host::Domain(name)) if !self.allow_private && local_name(name) => {
                return Err(refused(name));
            }
            _ => {}
        }
        Ok(url)
    }

    /// An HTTP client under this policy: addresses checked when connecting, no redirects,
    /// `timeout` for the whole exchange.
    pub fn client(&self, timeout: Duration, user_agent: &str) -> Result<reqwest::Client, AppError> {
        crate::outbox::install_tls_provider();
        let mut builder = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(user_agent.to_owned());
        if !self.allow_private {
            builder = builder.dns_resolver(Arc::new(PublicOnly));
        }
        builder
            .build()
            .map_err(|e| AppError::Invalid(format!("HTTP client: {e}")))
    }
}

/// Resolves names, keeping only the addresses this instance sends to; a name with none left
/// fails to connect. (URLs with a literal address are checked by [`Outbound::check_url`]
/// before each request: reqwest does not resolve those.)
struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|address| !internal(address.ip()))
                .collect();
            if found.is_empty() {
                return Err(format!(
                    "{host} resolves only to internal addresses, which this instance does not send to"
                )
                .into());
            }
            Ok(Box::new(found.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Names that always mean this machine, whatever a resolver says.
fn local_name(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}

/// Whether an address is not on the public internet: loopback, private (RFC 1918), shared
/// (CGNAT, RFC 6598), link-local, unique-local, multicast, unspecified, broadcast, reserved,
/// benchmarking and documentation ranges; IPv6 forms that carry an IPv4 address (mapped,
/// compatible, 6to4, NAT64) are judged by that address.
pub fn internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => internal_v4(v4),
        IpAddr::V6(v6) => internal_v6(v6),
    }
}

fn internal_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_documentation()
        || a == 0 // "this network"
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240 // reserved
}

fn internal_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return internal_v4(v4);
    }
    let segments = ip.segments();
    // IPv4-compatible (::a.b.c.d, deprecated) and NAT64 (64:ff9b::/96) carry an IPv4 address.
    let embedded = Ipv4Addr::new(
        (segments[6] >> 8) as u8,
        segments[6] as u8,
        (segments[7] >> 8) as u8,
        segments[7] as u8,
    );
    if segments[..6] == [0, 0, 0, 0, 0, 0] && !ip.is_loopback() && !ip.is_unspecified() {
        return internal_v4(embedded);
    }
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return internal_v4(embedded);
    }
    // 6to4 (2002::/16) carries one in its second and third segments.
    if segments[0] == 0x2002 {
        let carried = Ipv4Addr::new(
            (segments[1] >> 8) as u8,
            segments[1] as u8,
            (segments[2] >> 8) as u8,
            segments[2] as u8,
        );
        return internal_v4(carried);
    }
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (segments[0] & 0xfe00) == 0xfc00 // unique local
        || (segments[0] & 0xffc0) == 0xfe80 // link local
        || (segments[0] & 0xffc0) == 0xfec0 // site local (deprecated)
        || segments[0] == 0x2001 && segments[1] == 0x0db8 // documentation
        || segments[0] == 0x0100 && segments[1..4] == [0, 0, 0] // discard-only
}

/// Reads a response's body, refusing more than `limit` bytes as it streams in.
pub async fn read_capped(mut response: reqwest::Response, limit: usize) -> Result<Vec<u8>, String> {
    if response
        .content_length()
        .is_some_and(|length| length > limit as u64)
    {
        return Err(format!("answered more than {limit} bytes"));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
        if body.len() + chunk.len() > limit {
            return Err(format!("answered more than {limit} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use proptest::prelude::*;

    use super::*;

    /// Every written form of an internal address is refused: the usual, the decimal and
    /// octal ones a URL parser turns into the same address, IPv6 forms that carry one, and
    /// names of this machine.
    #[test]
    fn internal_addresses_are_refused_in_every_form() {
        let policy = Outbound::PUBLIC_ONLY;
        for url in [
            "http://127.0.0.1:8080/api/v1/audit",
            "http://127.1/",
            "http://2130706433/",
            "http://0x7f000001/",
            "http://017700000001/",
            "http://0177.0.0.1/",
            "http://169.254.169.254/latest/meta-data/",
            "http://[::1]:22/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:7f00:1]/",
            "http://[::127.0.0.1]/",
            "http://[64:ff9b::a9fe:a9fe]/",
            "http://[2002:7f00:1::]/",
            "http://[fe80::1]/",
            "http://[fd00::1]/",
            "http://10.0.0.8/",
            "http://172.16.0.1/",
            "http://192.168.1.1/",
            "http://100.64.0.1/",
            "http://0.0.0.0/",
            "http://255.255.255.255/",
            "http://224.0.0.1/",
            "http://localhost:5432/",
            "http://localhost./",
            "http://LOCALHOST/",
            "http://db.localhost/",
        ] {
            assert!(policy.check_url("url", url).is_err(), "{url} was accepted");
            assert!(
                Outbound::ANYWHERE.check_url("url", url).is_ok(),
                "{url} with private allowed"
            );
        }
        for url in [
            "https://hooks.example.org/x",
            "http://93.184.216.34/",
            "https://[2606:4700::1111]/",
        ] {
            assert!(policy.check_url("url", url).is_ok(), "{url} was refused");
        }
        for url in [
            "ftp://example.org/",
            "file:///etc/passwd",
            "https://user:pw@example.org/",
            "not a url",
        ] {
            assert!(policy.check_url("url", url).is_err(), "{url} was accepted");
        }
    }

    /// A name that resolves to loopback is refused when connecting, not only when saved.
    #[tokio::test]
    async fn a_name_resolving_to_loopback_cannot_be_reached() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = tokio::spawn(async move { listener.accept().await.is_ok() });
        let client = Outbound::PUBLIC_ONLY
            .client(Duration::from_secs(5), "test")
            .unwrap();
        // The client resolves the name itself (check_url, which refuses "localhost" by name,
        // is not asked here): the resolver keeps no address, and nothing connects.
        let error = client
            .get(format!("http://localhost:{port}/"))
            .send()
            .await
            .expect_err("connected to loopback");
        let chain = format!("{error:?}");
        assert!(chain.contains("internal addresses"), "{chain}");
        assert!(!accepted.is_finished(), "{error}");
        accepted.abort();
    }

    proptest! {
        /// Any IPv4 address in an internal range, in any IPv6 wrapping, is internal.
        #[test]
        fn wrapped_internal_addresses_stay_internal(last in any::<u8>(), third in any::<u8>()) {
            for v4 in [
                Ipv4Addr::new(127, third, 0, last),
                Ipv4Addr::new(10, third, 1, last),
                Ipv4Addr::new(192, 168, third, last),
                Ipv4Addr::new(169, 254, third, last),
                Ipv4Addr::new(100, 64 + third % 64, 0, last),
            ] {
                prop_assert!(internal(IpAddr::V4(v4)));
                prop_assert!(internal(IpAddr::V6(v4.to_ipv6_mapped())));
                let [a, b, c, d] = v4.octets();
                let nat64 = Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, u16::from_be_bytes([a, b]), u16::from_be_bytes([c, d]));
                prop_assert!(internal(IpAddr::V6(nat64)));
                let six_to_four = Ipv6Addr::new(0x2002, u16::from_be_bytes([a, b]), u16::from_be_bytes([c, d]), 0, 0, 0, 0, 1);
                prop_assert!(internal(IpAddr::V6(six_to_four)));
            }
        }
    }
}
