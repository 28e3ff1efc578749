// A certified OpenID Provider (panva's oidc-provider) on loopback, for the federation tests.
//
//   node provider.mjs --port 8410 --client-id micro --client-secret s3cret \
//        [--redirect-uri http://127.0.0.1:8000/accounts/federation/test/callback/ ...]
//
// The issuer is http://127.0.0.1:<port>. One confidential client (client_secret_basic, PKCE
// S256 required) and three users, all with the password PASSWORD below:
//   verified    email verified,     amr ["pwd"],        groups ["staff", "engineering"]
//   unverified  email not verified, amr ["pwd"],        groups []
//   mfa         email verified,     amr ["pwd", "mfa"], groups ["staff"]
// The sign-in page (/interaction/<uid>) is a plain form: `login` and `password` fields, posted
// back to the same address; a right answer also grants the requested scopes (no consent
// screen). POST /interaction/<uid>/abort answers the client with access_denied.
//
// Test-only control endpoints (JSON, POST), never part of a real provider:
//   /control/redirect-uris  {"redirect_uri": "..."}  registers one more redirect URI
//   /control/wrong-nonce    the next ID token carries a nonce the client did not send
//   /control/rotate-keys    a new signing key (new kid); the old one is gone from the JWKS
//   /control/reset          turns the misbehaviour switches off
// Each answers {"ok": true, ...}. The line "ready <issuer>" on stdout says it serves.
import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';

import Provider from 'oidc-provider';

const PASSWORD = 'correct horse battery staple';

const USERS = new Map(
  [
    {
      sub: 'a5c1d6e0-verified',
      preferred_username: 'verified',
      name: 'Vera Verified',
      email: 'verified@idp.example',
      email_verified: true,
      groups: ['staff', 'engineering'],
      amr: ['pwd'],
    },
    {
      sub: 'b7e2f9a1-unverified',
      preferred_username: 'unverified',
      name: 'Uma Unverified',
      email: 'unverified@idp.example',
      email_verified: false,
      groups: [],
      amr: ['pwd'],
    },
    {
      sub: 'c9f4a2b3-mfa',
      preferred_username: 'mfa',
      name: 'Max Mfa',
      email: 'mfa@idp.example',
      email_verified: true,
      groups: ['staff'],
      amr: ['pwd', 'mfa'],
    },
  ].map((user) => [user.preferred_username, user]),
);
const SUBJECTS = new Map([...USERS.values()].map((user) => [user.sub, user]));

const { values: args } = parseArgs({
  options: {
    port: { type: 'string', default: process.env.PROVIDER_PORT },
    'client-id': { type: 'string', default: process.env.PROVIDER_CLIENT_ID ?? 'micro' },
    'client-secret': { type: 'string', default: process.env.PROVIDER_CLIENT_SECRET },
    'redirect-uri': { type: 'string', multiple: true, default: [] },
  },
});
if (!args.port || !args['client-secret']) {
  console.error('usage: node provider.mjs --port N --client-secret S [--client-id I] [--redirect-uri U]...');
  process.exit(2);
}
const port = Number(args.port);
const issuer = `http://127.0.0.1:${port}`;

// What a rebuild of the provider keeps: the client, the signing key, the switches. Sessions,
// interactions, grants and codes live in oidc-provider's in-memory adapter, shared by every
// instance of this process, so a rebuild loses none of them.
const state = {
  redirectUris: new Set(args['redirect-uri']),
  signingKey: newSigningKey(),
  wrongNonce: false,
};
const cookieKeys = [randomBytes(32).toString('base64url')];

function newSigningKey() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), alg: 'RS256', use: 'sig' };
}

function configuration() {
  return {
    clients: [
      {
        client_id: args['client-id'],
        client_secret: args['client-secret'],
        redirect_uris: [...state.redirectUris],
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    pkce: { required: () => true },
    jwks: { keys: [state.signingKey] },
    cookies: { keys: cookieKeys },
    claims: {
      // amr is the session's (how the person signed in here), in every ID token.
      openid: ['sub', 'amr'],
      email: ['email', 'email_verified'],
      profile: ['name', 'preferred_username'],
      groups: ['groups'],
    },
    // Every claim the scopes grant goes into the ID token too, not only to userinfo.
    conformIdTokenClaims: false,
    features: { devInteractions: { enabled: false } },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    async findAccount(ctx, sub) {
      const user = SUBJECTS.get(sub);
      if (!user) return undefined;
      const { amr, ...claims } = user;
      return { accountId: sub, claims: async () => claims };
    },
    renderError(ctx, out) {
      ctx.type = 'text/plain';
      ctx.body = `${out.error}: ${out.error_description ?? ''}`;
    },
  };
}

let provider;
let handler;

function build() {
  const built = new Provider(issuer, configuration());
  // The "wrong nonce" switch: the next ID token issued with a nonce gets another one.
  const setClaim = built.IdToken.prototype.set;
  built.IdToken.prototype.set = function set(key, value) {
    if (key === 'nonce' && typeof value === 'string' && state.wrongNonce) {
      state.wrongNonce = false;
      return setClaim.call(this, key, `not-${value}`);
    }
    return setClaim.call(this, key, value);
  };
  provider = built;
  handler = built.callback();
}

async function readForm(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

function send(res, status, type, body) {
  res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store' });
  res.end(body);
}

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function loginPage(uid, clientId, error) {
  const message = error ? `<p id="error">${escapeHtml(error)}</p>` : '';
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>Test provider: sign in</title></head>
<body><h1>Sign in to the test provider</h1><p>for ${escapeHtml(clientId)}</p>${message}
<form method="post" action="/interaction/${escapeHtml(uid)}">
<label>Username <input name="login" autocomplete="username" autofocus></label>
<label>Password <input name="password" type="password" autocomplete="current-password"></label>
<button type="submit">Sign in</button>
</form>
<form method="post" action="/interaction/${escapeHtml(uid)}/abort"><button type="submit">Cancel</button></form>
</body></html>`;
}

async function interaction(req, res, url) {
  const abort = url.pathname.endsWith('/abort');
  const details = await provider.interactionDetails(req, res);
  const { uid, params } = details;
  if (req.method === 'GET') {
    return send(res, 200, 'text/html; charset=utf-8', loginPage(uid, params.client_id));
  }
  if (abort) {
    return provider.interactionFinished(req, res, {
      error: 'access_denied',
      error_description: 'the person cancelled the sign-in',
    }, { mergeWithLastSubmission: false });
  }
  const form = new URLSearchParams(await readForm(req));
  const user = USERS.get(form.get('login') ?? '');
  if (!user || form.get('password') !== PASSWORD) {
    return send(res, 200, 'text/html; charset=utf-8', loginPage(uid, params.client_id, 'Wrong username or password.'));
  }
  const grant = new provider.Grant({ accountId: user.sub, clientId: params.client_id });
  grant.addOIDCScope(String(params.scope));
  const grantId = await grant.save();
  return provider.interactionFinished(req, res, {
    login: { accountId: user.sub, amr: user.amr },
    consent: { grantId },
  }, { mergeWithLastSubmission: false });
}

async function control(req, res, url) {
  if (req.method !== 'POST') return send(res, 405, 'application/json', '{"ok": false}');
  const raw = await readForm(req);
  const body = raw ? JSON.parse(raw) : {};
  const answer = { ok: true };
  switch (url.pathname) {
    case '/control/redirect-uris':
      state.redirectUris.add(String(body.redirect_uri));
      build();
      answer.redirect_uris = [...state.redirectUris];
      break;
    case '/control/wrong-nonce':
      state.wrongNonce = true;
      break;
    case '/control/rotate-keys':
      state.signingKey = newSigningKey();
      build();
      answer.kid = state.signingKey.kid;
      break;
    case '/control/reset':
      state.wrongNonce = false;
      break;
    default:
      return send(res, 404, 'application/json', '{"ok": false}');
  }
  return send(res, 200, 'application/json', JSON.stringify(answer));
}

build();
const server = createServer((req, res) => {
  const url = new URL(req.url, issuer);
  let route = null;
  if (url.pathname === '/favicon.ico') return send(res, 204, 'image/x-icon', '');
  if (url.pathname.startsWith('/control/')) route = control;
  else if (url.pathname.startsWith('/interaction/')) route = interaction;
  if (route === null) return handler(req, res);
  return route(req, res, url).catch((error) => {
    console.error(error);
    if (!res.headersSent) send(res, 400, 'text/plain', `${error.name}: ${error.message}`);
  });
});
server.listen(port, '127.0.0.1', () => {
  console.log(`ready ${issuer}`);
});
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
}
