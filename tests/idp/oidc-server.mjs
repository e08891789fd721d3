// A real OpenID Connect provider (oidc-provider) for the integration tests, on loopback only.
//   node oidc-server.mjs <port>
// Client credentials grant with resource indicators (tests/it/oidc_provider.rs): a token requested with
// resource=X is a JWT access token (typ at+jwt) whose audience is exactly X. POST /__rotate starts signing
// with a new RSA key (the old one stays published), as a provider rotating keys does.
//
// Authorization code mode (tests/it/outbound_oidc.rs), when AUTHCODE_REDIRECT_URIS is set (space-separated):
// a second, confidential client `authgate-outbound` (secret `authgate-outbound-secret`, client_secret_post)
// for the gateway as an OAuth client: authorization code with PKCE (S256, required), refresh tokens issued
// for offline_access and rotated on every use (a rotated one used again revokes the grant), opaque access
// tokens living ACCESS_TOKEN_TTL seconds (default 3600); the development login and consent pages (any
// login name is an account, any password); token revocation and introspection.
import http from 'node:http';
import { generateKeyPair, exportJWK } from 'jose';
import Provider from 'oidc-provider';

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0) {
  console.error('usage: node oidc-server.mjs <port>');
  process.exit(2);
}
const issuer = `http://127.0.0.1:${port}`;
const redirectUris = (process.env.AUTHCODE_REDIRECT_URIS ?? '').split(' ').filter(Boolean);
const authCode = redirectUris.length > 0;
const accessTokenTtl = Number(process.env.ACCESS_TOKEN_TTL ?? '3600');
if (!Number.isInteger(accessTokenTtl) || accessTokenTtl <= 0) {
  console.error('ACCESS_TOKEN_TTL must be a positive number of seconds');
  process.exit(2);
}

const outboundClient = {
  client_id: 'authgate-outbound',
  client_secret: 'authgate-outbound-secret',
  grant_types: ['authorization_code', 'refresh_token'],
  redirect_uris: redirectUris,
  response_types: ['code'],
  token_endpoint_auth_method: 'client_secret_post',
};

async function newKey(n) {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  return { ...(await exportJWK(privateKey)), kid: `test-key-${n}`, alg: 'RS256', use: 'sig' };
}

function makeProvider(keys) {
  const provider = new Provider(issuer, {
    jwks: { keys },
    clients: [{
      client_id: 'authgate-tests',
      client_secret: 'authgate-tests-secret',
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
      token_endpoint_auth_method: 'client_secret_post',
      scope: 'api',
    }, ...(authCode ? [outboundClient] : [])],
    scopes: ['api', 'openid', 'offline_access'],
    pkce: { required: () => true },
    rotateRefreshToken: true,
    issueRefreshToken: async (_ctx, client, code) => (
      client.grantTypeAllowed('refresh_token') && code.scopes.has('offline_access')
    ),
    ttl: { AccessToken: accessTokenTtl },
    features: {
      devInteractions: { enabled: authCode },
      revocation: { enabled: authCode },
      introspection: { enabled: authCode },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        getResourceServerInfo: async (_ctx, resourceIndicator) => ({
          scope: 'api',
          audience: resourceIndicator,
          accessTokenTTL: 300,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        }),
      },
    },
  });
  return provider.callback();
}

let keys = [await newKey(1)];
let handler = makeProvider(keys);

const server = http.createServer(async (req, res) => {
  if (req.method === 'POST' && req.url === '/__rotate') {
    keys = [await newKey(keys.length + 1), ...keys];
    handler = makeProvider(keys);
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ kid: keys[0].kid }));
    return;
  }
  handler(req, res);
});
server.listen(port, '127.0.0.1', () => console.error(`oidc-provider listening on ${issuer}`));
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));
