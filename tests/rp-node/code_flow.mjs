// Code flow + PKCE + userinfo + refresh with openid-client, which checks the discovery
// issuer, `iss` in the authorization response, nonce, at_hash and userinfo's `sub`.
// Usage: node code_flow.mjs <public-url> <idNat of an `auto` identity>
import * as client from "openid-client";

const [, , base, idNat] = process.argv;
const discoveryUrl = new URL(`${base}/auth/realms/esante-wallet/.well-known/wallet-openid-configuration`);
const config = await client.discovery(discoveryUrl, "psc-mock-ci", "psc-mock-ci-secret", undefined, {
  execute: [client.allowInsecureRequests],
});
const verifier = client.randomPKCECodeVerifier();
const nonce = client.randomNonce();
const state = client.randomState();
const url = client.buildAuthorizationUrl(config, {
  redirect_uri: "http://localhost:9999/callback",
  scope: "openid scope_all",
  acr_values: "eidas1",
  code_challenge: await client.calculatePKCECodeChallenge(verifier),
  code_challenge_method: "S256",
  nonce,
  state,
  login_hint: idNat,
});
const answer = await fetch(url, { redirect: "manual" });
const callback = new URL(answer.headers.get("location"));
const tokens = await client.authorizationCodeGrant(config, callback, {
  pkceCodeVerifier: verifier,
  expectedNonce: nonce,
  expectedState: state,
  idTokenExpected: true,
});
const claims = tokens.claims();
const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
console.log(JSON.stringify({ claims, userinfo, refreshed: { expires_in: refreshed.expires_in, sub: refreshed.claims().sub } }));
