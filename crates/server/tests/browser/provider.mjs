// A real OpenID Connect provider for the single sign-on tests:
// oidc-provider (a certified implementation) on a free loopback port, with
// one confidential client that must use PKCE, freshly made RS256 signing
// keys, and three test users whose `groups` claim differs:
//   ada  groups ["tresor-admins", "staff"]
//   bob  groups ["staff"]
//   eve  groups ["sales"]
// Signing in uses the provider's own login page (devInteractions: any
// password), whose "[ Cancel ]" link denies the sign-in. Consent is given
// by the provider itself (the client is first-party). After
// `POST /test/wrong-keys`, the published key set holds another public key
// under the signing key's id, so ID tokens no longer verify.
//
// Run by crates/server/tests/integration/sso.rs, which passes:
//   OIDC_REDIRECT       the tresor server's callback URL
//   OIDC_CLIENT_SECRET  the client secret
// Prints `READY <issuer>` once it listens; exits when its standard input
// closes (the test ended or died).

import { createServer } from "node:http";
import { generateKeyPairSync, randomUUID } from "node:crypto";
import Provider from "oidc-provider";

const need = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const redirect = need("OIDC_REDIRECT");
const secret = need("OIDC_CLIENT_SECRET");

const ACCOUNTS = {
  ada: { email: "ada@example.com", groups: ["tresor-admins", "staff"] },
  bob: { email: "bob@example.com", groups: ["staff"] },
  eve: { email: "eve@example.com", groups: ["sales"] },
};

const server = createServer();
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const kid = randomUUID();
const key = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ format: "jwk" });
const otherKey = generateKeyPairSync("rsa", { modulusLength: 2048 }).publicKey.export({ format: "jwk" });
let wrongKeys = false;

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: "tresor",
      client_secret: secret,
      redirect_uris: [redirect],
      response_types: ["code"],
      grant_types: ["authorization_code"],
      token_endpoint_auth_method: "client_secret_basic",
    },
  ],
  pkce: { required: () => true },
  jwks: { keys: [{ ...key, kid, use: "sig", alg: "RS256" }] },
  cookies: { keys: [randomUUID()] },
  scopes: ["openid", "profile", "email", "groups"],
  claims: {
    openid: ["sub"],
    profile: ["preferred_username", "name"],
    email: ["email"],
    groups: ["groups"],
  },
  // the claims of the scopes asked for go into the ID token itself
  conformIdTokenClaims: false,
  features: { devInteractions: { enabled: true } },
  async findAccount(_ctx, id) {
    const known = ACCOUNTS[id] ?? { email: `${id}@example.com`, groups: [] };
    return {
      accountId: id,
      async claims() {
        return { sub: id, preferred_username: id, name: id, ...known };
      },
    };
  },
  // first-party client: consent to everything asked for, without a page
  async loadExistingGrant(ctx) {
    const found = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (found) return ctx.oidc.provider.Grant.find(found);
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope("openid profile email groups");
    grant.addOIDCClaims(["preferred_username", "name", "email", "groups"]);
    await grant.save();
    return grant;
  },
});
provider.on("server_error", (_ctx, err) => console.error(`provider error: ${err.stack ?? err}`));

provider.use(async (ctx, next) => {
  if (ctx.path === "/test/wrong-keys" && ctx.method === "POST") {
    wrongKeys = true;
    ctx.status = 204;
    return;
  }
  if (ctx.path === "/jwks" && wrongKeys) {
    ctx.type = "application/jwk-set+json";
    ctx.body = { keys: [{ ...otherKey, kid, use: "sig", alg: "RS256" }] };
    return;
  }
  await next();
});

server.on("request", provider.callback());
console.log(`READY ${issuer}`);

process.stdin.resume();
process.stdin.on("end", () => process.exit(0));
process.stdin.on("error", () => process.exit(0));
