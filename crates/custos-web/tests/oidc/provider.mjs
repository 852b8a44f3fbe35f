// A real, independent OpenID Provider for the web tests: panva's certified oidc-provider on
// loopback, with one confidential client (Custos), PKCE required, RP-initiated logout, its
// development login and consent pages (any password is taken), and these people:
//   ana    ana@hypermarket-a.test, verified, custos_memberships ["hypermarket-a=viewer"]
//   dpo    dpo@hypermarket-a.test, verified (an account Custos has by invitation)
//   nobody nobody@example.com, verified, no membership
//   shady  staff@agency-b.test, NOT verified (an address Custos knows: must not be taken)
// Claims beyond `sub` come from the UserInfo endpoint (the ID token carries only `sub`).
// Usage: node provider.mjs PORT CUSTOS_BASE_URL CLIENT_SECRET; prints "listening ISSUER".
import Provider from 'oidc-provider';

const [port, custos, secret] = process.argv.slice(2);
const issuer = `http://127.0.0.1:${port}`;
const people = {
  ana: { email: 'ana@hypermarket-a.test', email_verified: true, custos_memberships: ['hypermarket-a=viewer', 'nowhere=admin'] },
  dpo: { email: 'dpo@hypermarket-a.test', email_verified: true },
  nobody: { email: 'nobody@example.com', email_verified: true },
  shady: { email: 'staff@agency-b.test', email_verified: false },
};

const provider = new Provider(issuer, {
  clients: [{
    client_id: 'custos',
    client_secret: secret,
    redirect_uris: [`${custos}/login/oidc/callback`],
    post_logout_redirect_uris: [`${custos}/login`],
    response_types: ['code'],
    grant_types: ['authorization_code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  pkce: { required: () => true },
  scopes: ['openid', 'email', 'custos_memberships'],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    custos_memberships: ['custos_memberships'],
  },
  findAccount: async (_ctx, id) => people[id] && {
    accountId: id,
    claims: async () => ({ sub: id, ...people[id] }),
  },
  features: {
    devInteractions: { enabled: true },
    rpInitiatedLogout: { enabled: true },
  },
  cookies: { keys: ['custos-tests-provider-cookie-key'] },
});
// Development pages warn on every start; the tests do not need the noise.
provider.on('server_error', (_ctx, error) => console.error('provider error', error));
provider.listen(Number(port), '127.0.0.1', () => console.log(`listening ${issuer}`));
