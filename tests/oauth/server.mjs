// A real OAuth 2.0 / OpenID Connect authorization server for heph's tests: oidc-provider, the
// OpenID-certified implementation, on loopback. Its login and consent pages are the library's
// development interactions (any login name, any password).
//
//   node server.mjs PORT REDIRECT_URI [ACCESS_TOKEN_TTL_SECONDS]
//
// Clients: `heph-basic` authenticates at the token endpoint with HTTP Basic, `heph-body` with
// client_id/client_secret in the form body; both must use PKCE. `notion` (Basic, no PKCE),
// `google` (body, PKCE) and `linkedin` (body, no PKCE) stand behind the provider fakes' token
// endpoints (tests/src/providers/oauth.rs). Refresh tokens rotate, and a
// reused one revokes the whole grant. GET /__stats answers how many token requests of each
// grant type succeeded or failed, so the tests can count refreshes; POST /__fail_token makes
// the token endpoint fail for a while.
import http from 'node:http';
import Provider from 'oidc-provider';

const [port, redirectUri, accessTtl = '3600'] = process.argv.slice(2);
if (!port || !redirectUri) {
  console.error('usage: node server.mjs PORT REDIRECT_URI [ACCESS_TOKEN_TTL_SECONDS]');
  process.exit(2);
}
const issuer = `http://127.0.0.1:${port}`;
const client = (id, method) => ({
  client_id: id,
  client_secret: `${id}-secret`,
  redirect_uris: [redirectUri],
  grant_types: ['authorization_code', 'refresh_token'],
  response_types: ['code'],
  token_endpoint_auth_method: method,
});

const NO_PKCE = ['notion', 'linkedin'];
// The providers' own scopes, granted like the others so that the API fakes can check them.
const PROVIDER_SCOPES = [
  'w_member_social',
  'https://www.googleapis.com/auth/calendar.events',
  'https://www.googleapis.com/auth/calendar.readonly',
];

const provider = new Provider(issuer, {
  clients: [
    client('heph-basic', 'client_secret_basic'),
    client('heph-body', 'client_secret_post'),
    // The first-party connectors' providers, with their client authentication.
    client('notion', 'client_secret_basic'),
    client('google', 'client_secret_post'),
    client('linkedin', 'client_secret_post'),
  ],
  // Notion's and LinkedIn's web flows take no PKCE; every other client must use it.
  pkce: { required: (ctx, client) => !NO_PKCE.includes(client.clientId) },
  features: {
    devInteractions: { enabled: true },
    revocation: { enabled: true },
    introspection: { enabled: true },
  },
  scopes: ['openid', 'offline_access', 'profile', 'email', ...PROVIDER_SCOPES],
  claims: { openid: ['sub'], profile: ['name'], email: ['email'] },
  rotateRefreshToken: true,
  issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
  ttl: {
    AccessToken: Number(accessTtl),
    AuthorizationCode: 60,
    RefreshToken: 3600,
    Grant: 3600,
    Interaction: 600,
    Session: 3600,
    IdToken: 3600,
  },
  async findAccount(ctx, sub) {
    return {
      accountId: sub,
      async claims() {
        return { sub, name: `Learner ${sub}`, email: `${sub}@example.test` };
      },
    };
  },
  cookies: { keys: ['heph-test-cookie-key'] },
  // Expired means expired: the tests let access tokens run out on purpose.
  clockTolerance: 0,
});

const stats = {};
const count = (key) => { stats[key] = (stats[key] || 0) + 1; };
provider.on('grant.success', (ctx) => count(`${ctx.oidc.params.grant_type}.success`));
provider.on('grant.error', (ctx, err) => count(`${ctx.oidc.params?.grant_type}.error.${err.error}`));
provider.on('revocation.success', () => count('revocation.success'));

// POST /__fail_token?status=503&count=1 makes the next token requests fail with that status,
// as a provider under load or in an outage answers.
let failToken = { status: 0, count: 0 };
// POST /__slow_token?ms=500 delays every later token request by that long, which widens the
// window in which two processes could both decide to refresh.
let slowTokenMs = 0;

const callback = provider.callback();
http.createServer((req, res) => {
  const url = new URL(req.url, issuer);
  if (url.pathname === '/__fail_token' && req.method === 'POST') {
    failToken = { status: Number(url.searchParams.get('status')), count: Number(url.searchParams.get('count') || 1) };
    res.end('{}');
    return;
  }
  if (url.pathname === '/__slow_token' && req.method === 'POST') {
    slowTokenMs = Number(url.searchParams.get('ms'));
    res.end('{}');
    return;
  }
  if (url.pathname === '/token' && slowTokenMs > 0 && !req.slowed) {
    req.slowed = true;
    setTimeout(() => callback(req, res), slowTokenMs);
    return;
  }
  if (url.pathname === '/token' && failToken.count > 0) {
    failToken.count -= 1;
    count(`token.failed.${failToken.status}`);
    res.statusCode = failToken.status;
    if (failToken.status === 429) res.setHeader('retry-after', '30');
    res.setHeader('content-type', 'text/html');
    res.end('<html><body>temporarily unavailable</body></html>');
    return;
  }
  if (req.url === '/__stats') {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(stats));
    return;
  }
  callback(req, res);
}).listen(Number(port), '127.0.0.1', () => {
  console.log(`ready ${issuer}`);
});
