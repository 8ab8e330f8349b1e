#!/usr/bin/env node
// A third-party app's side of twofold, with Node.js 18+ only (fetch, node:crypto, node:fs).
//
//   export TWOFOLD_URL=https://auth.example.com TWOFOLD_CLIENT_ID=cl_... TWOFOLD_CLIENT_SECRET=sk_...
//   node twofold_app.mjs setup ACCOUNT CALLBACK_URL       // -> {registrationToken, deepLink, ...}
//   node twofold_app.mjs check-redirect URL                // the URL your callback received: accept it?
//   node twofold_app.mjs setup-native ACCOUNT             // -> {registrationToken, otpauthUri, qrSvg, ...}
//   node twofold_app.mjs confirm REGISTRATION_TOKEN CODE  // the first code the user's authenticator shows
//   node twofold_app.mjs status REGISTRATION_TOKEN
//   node twofold_app.mjs verify ACCOUNT CODE               // -> {valid: true|false}
//
// The registrations the app started are kept in TWOFOLD_APP_STORE (a JSON file here; your app's session or database).
import { createHmac, timingSafeEqual } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";

const BASE = (process.env.TWOFOLD_URL ?? "http://127.0.0.1:8000").replace(/\/$/, "");
const CLIENT_ID = process.env.TWOFOLD_CLIENT_ID;
const CLIENT_SECRET = process.env.TWOFOLD_CLIENT_SECRET;
const STORE = process.env.TWOFOLD_APP_STORE ?? "twofold-registrations.json";
const MAX_REDIRECT_AGE_S = 300; // a redirect older than this is refused (a replayed link)
const MAX_CLOCK_SKEW_S = 60; // nor one from further in the future than clocks drift

async function call(method, path, body) {
  const response = await fetch(BASE + path, {
    method,
    headers: {
      Authorization: "Basic " + Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString("base64"),
      "Content-Type": "application/json",
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const payload = await response.json();
  if (!response.ok) {
    // errors are application/problem+json; switch on "type"
    console.error(`${payload.status} ${payload.type}: ${payload.detail ?? ""}`);
    process.exit(1);
  }
  return payload;
}

// registrationToken -> account, for every setup this app started
const started = () => (existsSync(STORE) ? JSON.parse(readFileSync(STORE, "utf8")) : {});

async function startSetup(account, body) {
  const result = await call("POST", "/api/v1/setup", { account, ...body });
  writeFileSync(STORE, JSON.stringify({ ...started(), [result.registrationToken]: account }));
  return result;
}

// Python's urlencode (quote_plus) of the decoded parameters, sorted, signature left out.
function canonical(params) {
  const encode = (s) => encodeURIComponent(s).replace(/%20/g, "+").replace(/[!'()*~]/g,
    (c) => (c === "~" ? c : "%" + c.charCodeAt(0).toString(16).toUpperCase()));
  return [...params.entries()]
    .filter(([k]) => k !== "signature")
    .sort(([a, av], [b, bv]) => (a < b ? -1 : a > b ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
    .map(([k, v]) => `${encode(k)}=${encode(v)}`)
    .join("&");
}

function signatureIsValid(params) {
  const key = createHmac("sha256", CLIENT_SECRET).update("twofold/redirect-signature/v1").digest();
  const expected = createHmac("sha256", key).update(canonical(params)).digest("hex");
  const given = params.get("signature") ?? "";
  return given.length === expected.length && timingSafeEqual(Buffer.from(given), Buffer.from(expected));
}

// The account a redirect to your callback is about, or why to refuse it.
function checkRedirect(url) {
  const params = new URL(url).searchParams; // decoded: "+" and "%20" both read as a space
  if (!signatureIsValid(params)) return { reason: "bad signature" };
  const age = Date.now() / 1000 - Number(params.get("timestamp")) / 1000; // signed by twofold: an integer
  if (age > MAX_REDIRECT_AGE_S || age < -MAX_CLOCK_SKEW_S) return { reason: "stale timestamp" };
  const account = started()[params.get("regToken")];
  // genuine, but not a setup this app started (for this user)
  if (typeof account !== "string") return { reason: "not started here" };
  return { account };
}

const [command, ...args] = process.argv.slice(2);
let result;
if (command === "setup") {
  result = await startSetup(args[0], { callbackUrl: args[1] });
} else if (command === "setup-native") {
  result = await startSetup(args[0], { provider: "native" });
} else if (command === "check-redirect") {
  const { account = null, reason = null } = checkRedirect(args[0]);
  result = { accepted: account !== null, account, reason,
             redirect: Object.fromEntries(new URL(args[0]).searchParams) };
} else if (command === "confirm") {
  result = await call("POST", "/api/auth/setup-2fa/confirm", { registrationToken: args[0], code: args[1] });
} else if (command === "status") {
  result = await call("GET", `/api/v1/registrations/${args[0]}`);
} else if (command === "verify") {
  result = await call("POST", "/api/v1/verify", { account: args[0], code: args[1] });
} else {
  console.error("usage: setup ACCOUNT CALLBACK_URL | check-redirect URL | setup-native ACCOUNT"
    + " | confirm TOKEN CODE | status TOKEN | verify ACCOUNT CODE");
  process.exit(64);
}
console.log(JSON.stringify(result));
