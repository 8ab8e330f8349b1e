// The load of bench/run.py: one scenario per k6 run, chosen by SCENARIO, on data prepared by run.py (DATA).
//
// Every request of a scenario goes to the gateway; the bounds' requests go to the bench's own hop service
// (bench/hop.py) with the same load shape.  Callers come from many addresses (X-Forwarded-For from
// 198.18.0.0/15, the range set aside for benchmarks; the bench's gateway trusts 127.0.0.1 as its proxy), so
// the per-ip limits apply as they would to real users.  TOTP codes are computed here when they are sent, from
// the seeds run.py enrolled (totp.js): a slow machine makes the run slower, never its codes stale.
import http from 'k6/http';
import { SharedArray } from 'k6/data';
import exec from 'k6/execution';
import { sleep } from 'k6';
import { Counter, Trend } from 'k6/metrics';
import { step, totp } from './totp.js';

const SCENARIO = __ENV.SCENARIO;
const BASE = __ENV.BASE_URL;
const VUS = parseInt(__ENV.VUS || '8', 10);
const SECONDS = parseFloat(__ENV.SECONDS || '10');
const PERIOD = parseInt(__ENV.PERIOD || '30', 10);
// The scenario's items (run.py's one list) are parsed once and shared: each VU reads only those it uses, where a
// copy per VU had k6 parse all of them 32 times over and hold as many copies (1 GiB and most of a core for
// scenario 2's 16,200 seeds).  The few settings beside them are small: each VU has its own copy.
const LIST = { login: 'users', verify: 'accounts', refresh: 'tokens', callback: 'registrations' }[SCENARIO];
const ITEMS = new SharedArray(`${SCENARIO}-items`, () => (LIST ? JSON.parse(open(__ENV.DATA))[LIST] : []));
const DATA = new SharedArray(`${SCENARIO}-settings`, () => {
  const data = JSON.parse(open(__ENV.DATA));
  delete data[LIST];
  return [data];
})[0];

// One operation: a request, or for a login the two requests of the flow (their durations added).
const operation = new Trend('operation', true);
const succeeded = new Counter('succeeded');
const failed = new Counter('failed');
// scenario 2's answers, by what was sent: a fresh valid code accepted, a wrong code refused, a fresh valid code
// refused (it was used in its step already: the harness's defect, never the system's), a wrong code accepted
const accepted = new Counter('accepted');
const wrong = new Counter('wrong');
const replayed = new Counter('replayed');
const wrongAccepted = new Counter('wrongAccepted');
const exhausted = new Counter('exhausted');  // a VU had used every seed of its share in the step: it waited

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
  return ITEMS.length;
}

function address(i) {
  return `198.${18 + ((i >> 16) & 1)}.${(i >> 8) & 255}.${i & 255}`;
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
  const user = ITEMS[i];
  const ip = address(i);
  const first = http.post(`${BASE}/api/auth/login`, JSON.stringify({ email: user.email, password: user.password }),
                          params(ip));
  if (first.status !== 200 || first.json('status') !== '2fa_required') return outcome(false, 0, first);
  const second = http.post(`${BASE}/api/auth/login/2fa`,
                           JSON.stringify({ challengeToken: first.json('challengeToken'),
                                            code: totp(user.seed, PERIOD) }), params(ip));
  outcome(second.status === 200 && !!second.json('accessToken'), first.timings.duration + second.timings.duration,
          second);
}

// Scenario 2: each VU owns every VUS-th seed and checks each once per time step with the step's code, so no
// code is sent twice; every tenth check sends a wrong code instead (to the seed at hand, which stays unused).
const WRONG_EVERY = Math.round(1 / DATA.wrongShare);
const MAX_WRONG = 4;  // per seed: under the attempt limit (5 failures per 15 minutes per account)
let mine = null;
let next = 0;
let checkedStep = -1;
let checks = 0;
const wrongs = {};
function verify() {
  if (mine === null) {
    mine = [];
    for (let i = exec.vu.idInTest - 1; i < ITEMS.length; i += VUS) mine.push(ITEMS[i]);
  }
  const now = step(PERIOD);
  if (now !== checkedStep) {
    checkedStep = now;
    next = 0;
  }
  if (next >= mine.length) {  // all of this VU's seeds were used in this step: wait for the next one
    exhausted.add(1);
    sleep(Math.max(0.01, (now + 1) * PERIOD - Date.now() / 1000));
    return;
  }
  const entry = mine[next];
  const valid = totp(entry.seed, PERIOD);
  // offset per VU: in a short run where each VU checks a few codes, the tenth are still wrong across VUs
  const sendWrong = (++checks + exec.vu.idInTest) % WRONG_EVERY === 0 && (wrongs[entry.account] || 0) < MAX_WRONG;
  let code = valid;
  if (sendWrong) {
    wrongs[entry.account] = (wrongs[entry.account] || 0) + 1;
    code = wrongCode(entry.seed, now);
  } else {
    next++;
  }
  const response = http.post(`${BASE}/api/v1/verify`, JSON.stringify({ account: entry.account, code: code }),
                             params('127.0.0.1', { Authorization: DATA.authorization }));
  if (response.status !== 200) return outcome(false, 0, response);
  const answer = response.json('valid') === true;
  if (sendWrong) (answer ? wrongAccepted : wrong).add(1);
  else (answer ? accepted : replayed).add(1);
  outcome(answer !== sendWrong, response.timings.duration, response);
}

function wrongCode(seed, now) {
  // a code no step of the window accepts
  const window = [now - 1, now, now + 1].map((s) => totp(seed, PERIOD, s * PERIOD * 1000));
  let code = (parseInt(window[1], 10) + 500000) % 1000000;
  while (window.includes(String(code).padStart(6, '0'))) code = (code + 1) % 1000000;
  return String(code).padStart(6, '0');
}

// Each VU owns a slice of the sessions and rotates their refresh tokens in turn.
const tokens = {};
let turn = 0;
function refresh() {
  const slice = Math.ceil(ITEMS.length / VUS);
  const index = (exec.vu.idInTest - 1) * slice + (turn++ % slice);
  if (index >= ITEMS.length) return;
  const current = tokens[index] || ITEMS[index];
  const response = http.post(`${BASE}/api/auth/token/refresh`, JSON.stringify({ refreshToken: current }),
                             params(address(index)));
  const ok = response.status === 200 && !!response.json('refreshToken');
  if (ok) tokens[index] = response.json('refreshToken');
  outcome(ok, response.timings.duration, response);
}

// The provider's page sends the browser back to our callback with the seed and the code it shows now.
function callback() {
  const i = exec.scenario.iterationInTest;
  const r = ITEMS[i];
  const query = { success: 'true', regToken: r.regToken, seed: r.seed, code: totp(r.seed, PERIOD), seedId: r.seedId,
                  timestamp: String(Date.now()) };
  const encoded = Object.keys(query).map((k) => `${k}=${encodeURIComponent(query[k])}`).join('&');
  const response = http.get(`${BASE}${r.callback}?${encoded}`, params(address(i)));
  outcome(response.status === 200, response.timings.duration, response);
}

// The bounds: one request through the bench's hop service (bench/hop.py), the least one of ours costs.
let note = 0;
function bound() {
  const response = http.post(`${BASE}${DATA.path}`, JSON.stringify({ note: `${exec.vu.idInTest}-${note++}` }),
                             params('127.0.0.1'));
  outcome(response.status === 200, response.timings.duration, response);
}

const RUN = { login, verify, refresh, callback, oneHop: bound, twoHops: bound };

export default function () {
  RUN[SCENARIO]();
}

export function handleSummary(data) {
  return { [__ENV.SUMMARY]: JSON.stringify(data) };
}
