// The load of bench/run.py: one scenario per k6 run, chosen by SCENARIO, on data prepared by run.py (DATA).
//
// Every request goes to the gateway.  Callers come from many addresses (X-Forwarded-For from
// 198.18.0.0/15, the range set aside for benchmarks; the bench's gateway trusts 127.0.0.1 as its
// proxy), so the per-ip limits apply as they would to real users.  TOTP codes were computed by
// run.py for each time step of the run: a login uses the code of the step it happens in.
import http from 'k6/http';
import exec from 'k6/execution';
import { Counter, Trend } from 'k6/metrics';

const SCENARIO = __ENV.SCENARIO;
const BASE = __ENV.BASE_URL;
const VUS = parseInt(__ENV.VUS || '8', 10);
const SECONDS = parseFloat(__ENV.SECONDS || '10');
const PERIOD = 30;
const DATA = JSON.parse(open(__ENV.DATA));

// One operation: a request, or for a login the two requests of the flow (their durations added).
const operation = new Trend('operation', true);
const succeeded = new Counter('succeeded');
const failed = new Counter('failed');
const rejected = new Counter('rejected'); // answered correctly, but "no": a replayed or wrong code

const COUNTED = ['login', 'callback'];  // each item is used once
export const options = {
  scenarios: {
    [SCENARIO]: COUNTED.includes(SCENARIO)
      ? { executor: 'shared-iterations', vus: VUS, iterations: itemCount(), maxDuration: `${SECONDS}s`,
          gracefulStop: '10s' }
      : { executor: 'constant-vus', vus: VUS, duration: `${SECONDS}s`, gracefulStop: '10s' },
  },
  summaryTrendStats: ['med', 'p(50)', 'p(99)', 'avg', 'max', 'count'],
};

function itemCount() {
  return SCENARIO === 'login' ? DATA.users.length : DATA.paths.length;
}

function address(i) {
  return `198.${18 + ((i >> 16) & 1)}.${(i >> 8) & 255}.${i & 255}`;
}

function step() {
  return Math.floor(Date.now() / 1000 / PERIOD);
}

function params(ip, extra) {
  return { headers: Object.assign({ 'Content-Type': 'application/json', 'X-Forwarded-For': ip }, extra || {}),
           responseType: 'text', redirects: 0, timeout: '30s' };
}

let warned = 0;
function outcome(ok, duration, response) {
  if (ok) {
    succeeded.add(1);
    operation.add(duration);
  } else {
    failed.add(1);
    if (warned++ < 3) console.warn(`${SCENARIO}: ${response.status} ${String(response.body).slice(0, 300)}`);
  }
}

function login() {
  const i = exec.scenario.iterationInTest;
  const user = DATA.users[i];
  const ip = address(i);
  const first = http.post(`${BASE}/api/auth/login`, JSON.stringify({ email: user.email, password: user.password }),
                          params(ip));
  if (first.status !== 200 || first.json('status') !== '2fa_required') return outcome(false, 0, first);
  const code = user.codes[String(step())];
  const second = http.post(`${BASE}/api/auth/login/2fa`,
                           JSON.stringify({ challengeToken: first.json('challengeToken'), code: code }), params(ip));
  outcome(second.status === 200 && !!second.json('accessToken'), first.timings.duration + second.timings.duration,
          second);
}

let account = 0;
function verify() {
  // each VU walks its own share of the accounts; the first check of a step is valid, the next ones replays
  const accounts = DATA.accounts;
  const entry = accounts[((exec.vu.idInTest - 1) + VUS * account++) % accounts.length];
  const response = http.post(`${BASE}/api/v1/verify`,
                             JSON.stringify({ account: entry.account, code: entry.codes[String(step())] }),
                             params('127.0.0.1', { Authorization: DATA.authorization }));
  const ok = response.status === 200;
  if (ok && response.json('valid') !== true) rejected.add(1);
  outcome(ok, response.timings.duration, response);
}

// Each VU owns a slice of the sessions and rotates their refresh tokens in turn.
const tokens = {};
let turn = 0;
function refresh() {
  const slice = Math.ceil(DATA.tokens.length / VUS);
  const index = (exec.vu.idInTest - 1) * slice + (turn++ % slice);
  if (index >= DATA.tokens.length) return;
  const current = tokens[index] || DATA.tokens[index];
  const response = http.post(`${BASE}/api/auth/token/refresh`, JSON.stringify({ refreshToken: current }),
                             params(address(index)));
  const ok = response.status === 200 && !!response.json('refreshToken');
  if (ok) tokens[index] = response.json('refreshToken');
  outcome(ok, response.timings.duration, response);
}

function callback() {
  const i = exec.scenario.iterationInTest;
  const response = http.get(`${BASE}${DATA.paths[i]}`, params(address(i)));
  outcome(response.status === 200, response.timings.duration, response);
}

function trivial() {
  const response = http.get(`${BASE}/healthz`, { responseType: 'text' });
  outcome(response.status === 200, response.timings.duration, response);
}

const RUN = { login, verify, refresh, callback, trivial };

export default function () {
  RUN[SCENARIO]();
}

export function handleSummary(data) {
  return { [__ENV.SUMMARY]: JSON.stringify(data) };
}
