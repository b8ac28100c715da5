#!/usr/bin/env node
/*
 * oidc-idp.js — throwaway OpenID Connect provider that looks like Azure AD (Entra ID)
 * enough for SSO tests of the api-server / auth-gateway. Built on the npm package
 * `oidc-provider` (panva), v9.x. Test use only: in-memory storage, ephemeral keys.
 *
 * What it imitates from Azure AD v2.0:
 *   - issuer  http://127.0.0.1:$OIDC_PORT/$OIDC_TENANT/v2.0   (tenant-id path + /v2.0)
 *   - discovery at  $ISSUER/.well-known/openid-configuration,  JWKS at $ISSUER/discovery/v2.0/keys
 *   - authorize at  $ISSUER/oauth2/v2.0/authorize,  token at $ISSUER/oauth2/v2.0/token
 *     (Azure puts these under /$TENANT/oauth2/v2.0/...; clients must use discovery anyway)
 *   - ID token (RS256) carries: sub, oid, tid, name, preferred_username, email,
 *     groups (array of group object ids, as with groupMembershipClaims=SecurityGroup)
 *
 * Clients (static):
 *   - confidential: $OIDC_CLIENT_ID / $OIDC_CLIENT_SECRET (client_secret_basic or _post),
 *     redirect URIs from $OIDC_REDIRECT_URIS (comma separated); PKCE S256 accepted
 *   - public (CLI): $OIDC_CLI_CLIENT_ID, no secret, PKCE required,
 *     redirect URIs from $OIDC_CLI_REDIRECT_URIS
 *
 * Login without a human:
 *   - OIDC_AUTO_LOGIN=1 (default): GET /interaction/<uid> logs in immediately as the user named
 *     by the login_hint parameter of the authorize request (username or email), else
 *     $OIDC_DEFAULT_USER; consent is always granted automatically. A script only has to
 *     follow redirects (keeping cookies) from the authorize URL to the redirect_uri.
 *   - OIDC_AUTO_LOGIN=0: GET /interaction/<uid> shows an HTML form (input#username,
 *     button#login) which POSTs username=<name> to /interaction/<uid>/login. Good for
 *     browser (Playwright) tests of the real login button.
 *
 * Users: built-in alice (admins group) and bob (readers group); override with
 *   OIDC_USERS_FILE=<json file> of { "<username>": { "email":..., "name":..., "groups":[...] } }.
 *
 * Other knobs: OIDC_HOST (host name in the issuer, default 127.0.0.1), OIDC_BIND (listen address),
 *   OIDC_DEFAULT_USER (default alice), OIDC_EXIT_ON_STDIN_EOF=1 (exit as soon as stdin is closed:
 *   a test harness passes a pipe, so the IdP never outlives the test process, even when that one
 *   is SIGKILLed and cannot clean up).
 *
 * Usage (Capstan: e2e/scripts/install-deps.sh installs the pinned oidc-provider from
 * e2e/oidc/package.json + package-lock.json into ${CAPSTAN_CACHE_DIR:-~/.cache/capstan}/oidc-provider;
 * capstan_e2e::oidc::Idp runs this script with that directory as cwd):
 *   cd ~/.cache/capstan/oidc-provider
 *   OIDC_PORT=5556 node /path/to/e2e/oidc/oidc-idp.js            # serve; prints the issuer and PID, Ctrl-C / kill PID to stop
 *   node /path/to/e2e/oidc/oidc-idp.js selftest [user]            # start, run a full code+PKCE flow, print ID token claims, exit 0/1
 * oidc-provider is looked up from the current directory (cwd/node_modules), then next to this script, then normally.
 */
'use strict';
const http = require('node:http');
const crypto = require('node:crypto');
const path = require('node:path');
const fs = require('node:fs');
const { createRequire } = require('node:module');
const { pathToFileURL } = require('node:url');

const env = process.env;
const HOST = env.OIDC_HOST || '127.0.0.1';           // host name used in the issuer URL
const BIND = env.OIDC_BIND || '127.0.0.1';           // address to listen on
const PORT = Number(env.OIDC_PORT || 5556);
const TENANT = env.OIDC_TENANT || '72f988bf-0000-4000-8000-000000000001';
const PREFIX = `/${TENANT}/v2.0`;
const ISSUER = `http://${HOST}:${PORT}${PREFIX}`;
const CLIENT_ID = env.OIDC_CLIENT_ID || 'capstan';
const CLIENT_SECRET = env.OIDC_CLIENT_SECRET || 'capstan-secret';
const REDIRECT_URIS = (env.OIDC_REDIRECT_URIS || 'http://127.0.0.1:8080/auth/callback,http://localhost:8080/auth/callback').split(',');
const CLI_CLIENT_ID = env.OIDC_CLI_CLIENT_ID || 'capstan-cli';
const CLI_REDIRECT_URIS = (env.OIDC_CLI_REDIRECT_URIS || 'http://127.0.0.1:8085/auth/callback,http://localhost:8085/auth/callback').split(',');
const AUTO_LOGIN = (env.OIDC_AUTO_LOGIN || '1') !== '0';
const DEFAULT_USER = env.OIDC_DEFAULT_USER || 'alice';
const EXIT_ON_STDIN_EOF = env.OIDC_EXIT_ON_STDIN_EOF === '1';

// ---- test users (Azure-like: oid = object id GUID, groups = group object ids) ----
const USERS = env.OIDC_USERS_FILE ? JSON.parse(fs.readFileSync(env.OIDC_USERS_FILE, 'utf8')) : {
  alice: { name: 'Alice Admin', email: 'alice@contoso.test', groups: ['a1a1a1a1-0000-4000-8000-000000000001'] },
  bob: { name: 'Bob Reader', email: 'bob@contoso.test', groups: ['b2b2b2b2-0000-4000-8000-000000000002'] },
};
function oidFor(username) { // stable GUID-looking id per username
  const h = crypto.createHash('sha256').update(username).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}
if (!USERS[DEFAULT_USER]) {
  console.error(`OIDC_DEFAULT_USER=${DEFAULT_USER} is not one of the users (${Object.keys(USERS).join(', ')})`);
  process.exit(2);
}
function findUser(hint) {
  if (!hint) return null;
  if (USERS[hint]) return hint;
  return Object.keys(USERS).find((u) => (USERS[u].email || '').toLowerCase() === String(hint).toLowerCase()) || null;
}

async function loadProvider() {
  let file;
  try { file = createRequire(path.join(process.cwd(), 'noop.js')).resolve('oidc-provider'); } catch {
    try { file = require.resolve('oidc-provider'); } catch {
      throw new Error(`oidc-provider is not installed in ${process.cwd()}/node_modules nor next to ${__filename}: `
        + 'run e2e/scripts/install-deps.sh and start this script from ${CAPSTAN_CACHE_DIR:-~/.cache/capstan}/oidc-provider');
    }
  }
  return (await import(pathToFileURL(file).href)).default;
}

// OIDC_TRACE_START=1: timestamped start-up steps on stderr, to see where a slow start waits.
const trace = (step) => { if (env.OIDC_TRACE_START === '1') console.error(`oidc-idp start: ${new Date().toISOString()} ${step}`); };

async function start() {
  trace('loading oidc-provider');
  const Provider = await loadProvider();
  trace('loaded; generating the signing key');
  // Ephemeral RS256 signing key (Azure signs ID tokens with RS256).
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  trace('key generated; configuring the provider');
  const jwk = { ...privateKey.export({ format: 'jwk' }), kid: crypto.randomBytes(8).toString('hex'), alg: 'RS256', use: 'sig' };

  const provider = new Provider(ISSUER, {
    clients: [
      { client_id: CLIENT_ID, client_secret: CLIENT_SECRET, redirect_uris: REDIRECT_URIS,
        grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
        post_logout_redirect_uris: REDIRECT_URIS.map((u) => new URL('/', u).href) },
      { client_id: `${CLIENT_ID}-post`, client_secret: CLIENT_SECRET, redirect_uris: REDIRECT_URIS,
        grant_types: ['authorization_code'], response_types: ['code'], token_endpoint_auth_method: 'client_secret_post' },
      { client_id: CLI_CLIENT_ID, redirect_uris: CLI_REDIRECT_URIS, application_type: 'native',
        grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], token_endpoint_auth_method: 'none' },
    ],
    jwks: { keys: [jwk] },
    cookies: { keys: ['test-only-cookie-key-not-secret'] },
    // Azure-like endpoint paths (relative to the issuer path).
    routes: {
      authorization: '/oauth2/v2.0/authorize', token: '/oauth2/v2.0/token', jwks: '/discovery/v2.0/keys',
      userinfo: '/oidc/userinfo', end_session: '/oauth2/v2.0/logout',
    },
    scopes: ['openid', 'profile', 'email', 'offline_access'],
    claims: {
      openid: ['sub', 'oid', 'tid', 'groups'],   // Azure adds groups/oid/tid regardless of scopes
      profile: ['name', 'preferred_username'],
      email: ['email'],
    },
    conformIdTokenClaims: false,   // put the scope claims into the ID token (like Azure), not only in userinfo
    pkce: { required: (ctx, client) => client.clientAuthMethod === 'none' },
    features: { devInteractions: { enabled: false }, rpInitiatedLogout: { enabled: true } },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    async findAccount(ctx, sub) {
      const username = Object.keys(USERS).find((u) => oidFor(u) === sub) || (USERS[sub] ? sub : null);
      if (!username) return undefined;
      const u = USERS[username];
      return {
        accountId: sub,
        async claims() {
          return { sub, oid: oidFor(username), tid: TENANT, name: u.name || username,
            preferred_username: u.email || username, email: u.email, groups: u.groups || [] };
        },
      };
    },
    ttl: { AccessToken: 3600, IdToken: 3600, AuthorizationCode: 300, Interaction: 600, Session: 3600, Grant: 3600 },
  });
  provider.on('server_error', (ctx, err) => console.error('oidc server_error', err));

  async function finishLogin(req, res, username) {
    await provider.interactionFinished(req, res, { login: { accountId: oidFor(username) } }, { mergeWithLastSubmission: false });
  }
  async function grantConsent(req, res, details) {
    const { prompt: { details: d }, params, session, grantId } = details;
    const grant = grantId ? await provider.Grant.find(grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    if (d.missingOIDCScope) grant.addOIDCScope(d.missingOIDCScope.join(' '));
    if (d.missingOIDCClaims) grant.addOIDCClaims(d.missingOIDCClaims);
    if (d.missingResourceScopes) for (const [ind, s] of Object.entries(d.missingResourceScopes)) grant.addResourceScope(ind, s.join(' '));
    await provider.interactionFinished(req, res, { consent: { grantId: await grant.save() } }, { mergeWithLastSubmission: true });
  }
  const readBody = (req) => new Promise((ok) => { let b = ''; req.on('data', (c) => { b += c; }); req.on('end', () => ok(new URLSearchParams(b))); });
  const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

  const oidc = provider.callback();
  const server = http.createServer(async (req, res) => {
    try {
      const url = new URL(req.url, ISSUER);
      if (url.pathname === PREFIX || url.pathname.startsWith(`${PREFIX}/`)) {
        // Mount the provider under the issuer path (express-style: originalUrl keeps the prefix).
        req.originalUrl = req.url;
        req.url = req.url.slice(PREFIX.length) || '/';
        return oidc(req, res);
      }
      let m;
      if ((m = url.pathname.match(/^\/interaction\/([\w-]+)$/)) && req.method === 'GET') {
        const details = await provider.interactionDetails(req, res);
        if (details.prompt.name === 'login') {
          const hinted = findUser(details.params.login_hint);
          if (AUTO_LOGIN) return await finishLogin(req, res, hinted || DEFAULT_USER);
          res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
          return res.end(`<!doctype html><title>Sign in (test IdP)</title><h1>Sign in</h1>
<form method="post" action="/interaction/${esc(m[1])}/login">
<label>Username <input id="username" name="username" value="${esc(hinted || DEFAULT_USER)}"></label>
<button id="login" type="submit">Sign in</button></form>
<p>Users: ${Object.keys(USERS).map(esc).join(', ')}</p>`);
        }
        return await grantConsent(req, res, details);   // consent: always granted
      }
      if ((m = url.pathname.match(/^\/interaction\/([\w-]+)\/login$/)) && req.method === 'POST') {
        await provider.interactionDetails(req, res);
        const username = findUser((await readBody(req)).get('username'));
        if (!username) { res.writeHead(403, { 'content-type': 'text/plain' }); return res.end('unknown user'); }
        return await finishLogin(req, res, username);
      }
      if (url.pathname === '/healthz') { res.writeHead(200); return res.end('ok'); }
      res.writeHead(404, { 'content-type': 'text/plain' }); res.end('not found');
    } catch (err) {
      console.error('interaction error', err);
      if (!res.headersSent) { res.writeHead(400, { 'content-type': 'text/plain' }); }
      res.end(`error: ${err.message}`);
    }
  });
  trace(`listening on ${BIND}:${PORT}`);
  await new Promise((ok, fail) => { server.once('error', fail); server.listen(PORT, BIND, () => { server.off('error', fail); ok(); }); });
  trace('listening');
  return server;
}

// ---------- selftest: a scripted authorization-code + PKCE flow (what an RP would do) ----------
async function selftest() {
  const jar = new Map();
  const keep = (r) => { for (const c of r.headers.getSetCookie()) { const [kv] = c.split(';'); const i = kv.indexOf('='); jar.set(kv.slice(0, i), kv.slice(i + 1)); } };
  const cookie = () => [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
  const disc = await (await fetch(`${ISSUER}/.well-known/openid-configuration`)).json();
  const jwks = await (await fetch(disc.jwks_uri)).json();
  console.log('issuer', disc.issuer, '\nauthorization_endpoint', disc.authorization_endpoint,
    '\ntoken_endpoint', disc.token_endpoint, '\njwks_uri', disc.jwks_uri, '(keys:', jwks.keys.length, ')');
  const verifier = crypto.randomBytes(32).toString('base64url');
  const challenge = crypto.createHash('sha256').update(verifier).digest('base64url');
  const state = crypto.randomBytes(8).toString('hex'); const nonce = crypto.randomBytes(8).toString('hex');
  const user = process.argv[3] || 'alice';
  let next = `${disc.authorization_endpoint}?${new URLSearchParams({ client_id: CLIENT_ID, response_type: 'code',
    redirect_uri: REDIRECT_URIS[0], scope: 'openid profile email', state, nonce, login_hint: user,
    code_challenge: challenge, code_challenge_method: 'S256' })}`;
  for (let hops = 0; hops < 10 && !next.startsWith(REDIRECT_URIS[0]); hops++) {
    const r = await fetch(next, { redirect: 'manual', headers: { cookie: cookie() } });
    keep(r);
    if (!r.headers.get('location')) throw new Error(`no redirect at ${next}: ${r.status} ${await r.text()}`);
    next = new URL(r.headers.get('location'), next).href;
  }
  const cb = new URL(next);
  if (cb.searchParams.get('state') !== state || !cb.searchParams.get('code')) throw new Error(`bad callback ${next}`);
  const tok = await (await fetch(disc.token_endpoint, { method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', code: cb.searchParams.get('code'),
      redirect_uri: REDIRECT_URIS[0], code_verifier: verifier }) })).json();
  if (!tok.id_token) throw new Error(`token error ${JSON.stringify(tok)}`);
  const [h, p, s] = tok.id_token.split('.');
  const header = JSON.parse(Buffer.from(h, 'base64url')); const claims = JSON.parse(Buffer.from(p, 'base64url'));
  const key = crypto.createPublicKey({ key: jwks.keys.find((k) => k.kid === header.kid), format: 'jwk' });
  const ok = crypto.verify('sha256', Buffer.from(`${h}.${p}`), key, Buffer.from(s, 'base64url'));
  console.log('id_token header', JSON.stringify(header), 'signature valid:', ok);
  console.log('id_token claims', JSON.stringify(claims, null, 1));
  if (!ok || claims.nonce !== nonce || !Array.isArray(claims.groups) || claims.iss !== ISSUER) throw new Error('claims check failed');
  console.log('SELFTEST OK');
}

if (require.main === module) {
  start().then(async (server) => {
    console.log(`oidc-idp pid=${process.pid} issuer=${ISSUER} client=${CLIENT_ID} auto_login=${AUTO_LOGIN}`);
    if (process.argv[2] === 'selftest') {
      try { await selftest(); process.exitCode = 0; } catch (e) { console.error('SELFTEST FAILED', e); process.exitCode = 1; }
      server.close(); server.closeAllConnections(); setTimeout(() => process.exit(process.exitCode), 100);
    }
  }).catch((e) => { console.error(e); process.exit(1); });
  for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(0));
  if (EXIT_ON_STDIN_EOF) {
    process.stdin.on('end', () => process.exit(0)).on('error', () => process.exit(0)).resume();
  }
}
module.exports = { start, ISSUER };
