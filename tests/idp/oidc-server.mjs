// A real OpenID Connect provider (oidc-provider) for tests/it/oidc_provider.rs, on loopback only.
//   node oidc-server.mjs <port>
// Client credentials grant with resource indicators: a token requested with resource=X is a JWT access
// token (typ at+jwt) whose audience is exactly X. POST /__rotate starts signing with a new RSA key (the
// old one stays published), as a provider rotating keys does.
import http from 'node:http';
import { generateKeyPair, exportJWK } from 'jose';
import Provider from 'oidc-provider';

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0) {
  console.error('usage: node oidc-server.mjs <port>');
  process.exit(2);
}
const issuer = `http://127.0.0.1:${port}`;

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
    }],
    scopes: ['api'],
    features: {
      devInteractions: { enabled: false },
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
