#!/usr/bin/env node
// A third-party app's side of twofold, with Node.js 18+ only (fetch, node:crypto).
//
//   export TWOFOLD_URL=https://auth.example.com TWOFOLD_CLIENT_ID=cl_... TWOFOLD_CLIENT_SECRET=sk_...
//   node twofold_app.mjs setup ACCOUNT CALLBACK_URL   // -> {registrationToken, deepLink, ...}
//   node twofold_app.mjs check-redirect URL            // the URL your callback received: signature valid?
//   node twofold_app.mjs status REGISTRATION_TOKEN
//   node twofold_app.mjs verify ACCOUNT CODE           // -> {valid: true|false}
import { createHmac, timingSafeEqual } from "node:crypto";

const BASE = (process.env.TWOFOLD_URL ?? "http://127.0.0.1:8000").replace(/\/$/, "");
const CLIENT_ID = process.env.TWOFOLD_CLIENT_ID;
const CLIENT_SECRET = process.env.TWOFOLD_CLIENT_SECRET;

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
    // errors are application/problem+json
    console.error(`${payload.status} ${payload.title}: ${payload.detail ?? ""}`);
    process.exit(1);
  }
  return payload;
}

// Python's urlencode (quote_plus) of the sorted parameters, signature left out.
function canonical(params) {
  const encode = (s) => encodeURIComponent(s).replace(/%20/g, "+").replace(/[!'()*~]/g,
    (c) => (c === "~" ? c : "%" + c.charCodeAt(0).toString(16).toUpperCase()));
  return [...params.entries()]
    .filter(([k]) => k !== "signature")
    .sort(([a, av], [b, bv]) => (a < b ? -1 : a > b ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
    .map(([k, v]) => `${encode(k)}=${encode(v)}`)
    .join("&");
}

function redirectIsGenuine(url) {
  const params = new URL(url).searchParams;
  const key = createHmac("sha256", CLIENT_SECRET).update("twofold/redirect-signature/v1").digest();
  const expected = createHmac("sha256", key).update(canonical(params)).digest("hex");
  const given = params.get("signature") ?? "";
  return given.length === expected.length && timingSafeEqual(Buffer.from(given), Buffer.from(expected));
}

const [command, ...args] = process.argv.slice(2);
let result;
if (command === "setup") {
  result = await call("POST", "/api/v1/setup", { account: args[0], callbackUrl: args[1] });
} else if (command === "check-redirect") {
  result = { genuine: redirectIsGenuine(args[0]), ...Object.fromEntries(new URL(args[0]).searchParams) };
} else if (command === "status") {
  result = await call("GET", `/api/v1/registrations/${args[0]}`);
} else if (command === "verify") {
  result = await call("POST", "/api/v1/verify", { account: args[0], code: args[1] });
} else {
  console.error("usage: setup ACCOUNT CALLBACK_URL | check-redirect URL | status TOKEN | verify ACCOUNT CODE");
  process.exit(64);
}
console.log(JSON.stringify(result));
