// A real OpenID Connect provider (oidc-provider 9.x) for the Python test suite, on loopback.
//
//   node tests/oidc/provider.mjs CONFIG.json
//
// CONFIG.json: {"port", "issuer", "keys", "resources": {uri: {"scope", "ttl"}}, "clients": [...]}
// (tests/oidc.py writes one). Prints exactly one line `ready <port>` on
// stdout once listening; everything else (oidc-provider notices included) goes to stderr.

import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';

// oidc-provider prints its development notices with console.info (stdout): keep stdout for `ready`.
console.info = console.error;
console.log = console.error;

const { default: Provider, errors } = await import('oidc-provider');

const configPath = process.argv[2];
if (!configPath) {
  console.error('usage: node provider.mjs CONFIG.json');
  process.exit(2);
}
const config = JSON.parse(readFileSync(configPath, 'utf8'));
const port = Number(config.port);
const issuer = config.issuer ?? `http://127.0.0.1:${port}`;
const resources = config.resources ?? {};
const resourceIds = Object.keys(resources);
const words = (s) => (s ?? '').split(' ').filter(Boolean);

// Signing keys: a private JWKS; made (one RS256 RSA-2048 key, random kid) if the file is absent.
function loadKeys(path) {
  if (existsSync(path)) {
    return JSON.parse(readFileSync(path, 'utf8'));
  }
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = { ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), alg: 'RS256', use: 'sig' };
  const jwks = { keys: [jwk] };
  writeFileSync(path, `${JSON.stringify(jwks, null, 2)}\n`, { mode: 0o600 });
  return jwks;
}
const jwks = loadKeys(config.keys);

// Every scope used anywhere must be known to the provider (it drops or rejects unknown ones).
const allScopes = new Set(['openid']);
for (const { scope } of Object.values(resources)) words(scope).forEach((s) => allScopes.add(s));
for (const { scope } of config.clients ?? []) words(scope).forEach((s) => allScopes.add(s));

const clientConfig = new Map((config.clients ?? []).map((c) => [c.client_id, c]));
// Clients that may introspect tokens issued to other clients: those flagged `"introspect": true`,
// and clients without scopes (resource-server clients such as `bosun-rs`).
const introspectors = new Set(
  (config.clients ?? [])
    .filter((c) => c.introspect === true || (c.introspect === undefined && !words(c.scope).length))
    .map((c) => c.client_id),
);

const clients = (config.clients ?? []).map((c) => {
  const scoped = words(c.scope).length > 0;
  return {
    client_id: c.client_id,
    client_secret: c.client_secret,
    // client_secret_post is accepted as well: oidc-provider treats basic/post as interchangeable.
    token_endpoint_auth_method: c.token_endpoint_auth_method ?? 'client_secret_basic',
    grant_types: scoped ? ['client_credentials'] : [],
    response_types: [],
    redirect_uris: [],
    ...(scoped ? { scope: words(c.scope).join(' ') } : {}),
  };
});

const provider = new Provider(issuer, {
  clients,
  jwks,
  scopes: [...allScopes],
  claims: { openid: ['sub'] },
  cookies: { keys: [randomUUID()] },
  pkce: { required: () => false },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: {
      enabled: true,
      allowedPolicy: async (ctx, client, token) => (
        token.clientId === client.clientId || introspectors.has(client.clientId)
      ),
    },
    revocation: {
      enabled: true,
      // Only the client a token was issued to may revoke it (oidc-provider's default, made explicit).
      allowedPolicy: async (ctx, client, token) => {
        if (token.clientId !== client.clientId) {
          throw new errors.InvalidRequest('client is not authorized to revoke the presented token');
        }
        return true;
      },
    },
    resourceIndicators: {
      enabled: true,
      // No `resource` parameter: use the first configured resource.
      defaultResource: async (ctx, client, oneOf) => oneOf ?? resourceIds[0],
      useGrantedResource: async () => true,
      getResourceServerInfo: async (ctx, resourceIndicator, client) => {
        const rs = resources[resourceIndicator];
        if (!rs) throw new errors.InvalidTarget('unknown resource indicator');
        // No `scope` requested: grant the client's allowed scopes (narrowed to the resource's by
        // the client_credentials grant).
        if (ctx.oidc.route === 'token' && ctx.oidc.params.grant_type === 'client_credentials'
            && !ctx.oidc.params.scope && client.scope) {
          ctx.oidc.params.scope = client.scope;
        }
        const format = clientConfig.get(client.clientId)?.format === 'jwt' ? 'jwt' : 'opaque';
        return {
          scope: words(rs.scope).join(' '),
          audience: resourceIndicator,
          accessTokenTTL: Number(rs.ttl ?? 300),
          accessTokenFormat: format,
          ...(format === 'jwt' ? { jwt: { sign: { alg: 'RS256' } } } : {}),
        };
      },
    },
  },
  // client_credentials tokens have no end-user: give them `sub` = client_id in introspection
  // responses too (JWT access tokens already default `sub` to the client_id).
  extraTokenClaims: async (ctx, token) => (
    token.kind === 'ClientCredentials' ? { sub: token.clientId } : undefined
  ),
  ttl: {
    ClientCredentials: (ctx, token) => token.resourceServer?.accessTokenTTL ?? 300,
    AccessToken: (ctx, token) => token.resourceServer?.accessTokenTTL ?? 300,
  },
  renderError: async (ctx, out) => {
    ctx.type = 'json';
    ctx.body = out;
  },
});

provider.on('server_error', (ctx, err) => console.error('oidc-provider server_error:', err));

// RFC 8414 metadata: the same document as OpenID discovery.
const handler = provider.callback();
const server = createServer((req, res) => {
  if (req.url.startsWith('/.well-known/oauth-authorization-server')) {
    req.url = req.url.replace('/.well-known/oauth-authorization-server', '/.well-known/openid-configuration');
  }
  handler(req, res);
});

server.on('error', (err) => {
  console.error('oidc provider: listen failed:', err);
  process.exit(1);
});
server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`ready ${server.address().port}\n`);
});

let stopping = false;
function stop() {
  if (stopping) return;
  stopping = true;
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
