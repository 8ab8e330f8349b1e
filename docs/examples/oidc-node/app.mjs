// Sign in with twofold: a Node app using openid-client (v6), the authorization code flow with PKCE.
//
//   TWOFOLD_ISSUER=http://127.0.0.1:8000 CLIENT_ID=cl_... CLIENT_SECRET=sk_... node app.mjs
//
// APP_URL (default http://localhost:3000) is where this app is reached; its /callback is the redirect URI
// registered for it, its home page the post-logout redirect URI and its /backchannel-logout the back-channel
// logout URI. Sessions live in this process's memory, keyed by a cookie; tokens never reach the browser.
import { randomBytes } from 'node:crypto'
import { createServer } from 'node:http'
import * as jose from 'jose'
import * as client from 'openid-client'

const issuer = new URL(process.env.TWOFOLD_ISSUER ?? 'http://127.0.0.1:8000')
const appUrl = new URL(process.env.APP_URL ?? 'http://localhost:3000')
const redirectUri = new URL('/callback', appUrl).href
const home = new URL('/', appUrl).href  // where twofold sends the person back after signing them out

// Plain http is for a development issuer only; the ID token's signature is checked against the issuer's JWKS.
const execute = [client.enableNonRepudiationChecks]
if (issuer.protocol === 'http:') execute.push(client.allowInsecureRequests)
const config = await client.discovery(issuer, process.env.CLIENT_ID, process.env.CLIENT_SECRET, undefined, { execute })

const sessions = new Map()
// the issuer's keys, fetched again when a token names one not seen yet (twofold rotates them)
const jwks = jose.createRemoteJWKSet(new URL(config.serverMetadata().jwks_uri))
const backchannelLogoutEvent = 'http://schemas.openid.net/event/backchannel-logout'
const logoutTokensTaken = new Set()  // their jti: one seen before is refused (a real app forgets them at exp)

function sessionOf (request, response) {
  const id = /(?:^|;\s*)example_session=([\w-]+)/.exec(request.headers.cookie ?? '')?.[1]
  if (id && sessions.has(id)) return sessions.get(id)
  const fresh = randomBytes(24).toString('base64url')
  sessions.set(fresh, {})
  response.setHeader('Set-Cookie', `example_session=${fresh}; Path=/; HttpOnly; SameSite=Lax`)
  return sessions.get(fresh)
}

const escape = (text) => text.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`)
const json = (value) => `<pre>${escape(JSON.stringify(value, null, 2))}</pre>`

function page (response, body, status = 200) {
  response.writeHead(status, { 'Content-Type': 'text/html; charset=utf-8' })
  response.end(`<!doctype html><title>Example app</title>${body}`)
}

function endSession (session) {
  for (const key of Object.keys(session)) delete session[key]
}

function redirect (response, location) {
  response.writeHead(303, { Location: location })
  response.end()
}

function homePage (request, response, session) {
  if (!session.tokens) {
    // back from twofold's sign-out page, which this app sent the person to
    const back = new URL(request.url, appUrl).searchParams.get('state')
    const signedOut = back !== null && back === session.signingOut
    delete session.signingOut
    const notice = signedOut ? '<p id="signed-out">You are signed out of twofold too.</p>' : ''
    return page(response, `<h1>Example app</h1>${notice}<a id="sign-in" href="/login">Sign in with twofold</a>`)
  }
  page(response, `<h1>Signed in</h1>
    <h2>ID token</h2><div id="id-token">${json(session.claims)}</div>
    <h2>Userinfo</h2><div id="userinfo">${json(session.userinfo)}</div>
    <p id="refreshes">${session.refreshes}</p>
    <form method="post" action="/refresh"><button id="refresh">Refresh</button></form>
    <form method="post" action="/logout"><button id="sign-out">Sign out</button></form>`)
}

async function login (response, session) {
  const verifier = client.randomPKCECodeVerifier()
  session.pending = { verifier, state: client.randomState(), nonce: client.randomNonce() }
  redirect(response, client.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope: 'openid email',
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state: session.pending.state,
    nonce: session.pending.nonce
  }).href)
}

async function callback (request, response, session) {
  const pending = session.pending
  delete session.pending
  if (!pending) return page(response, '<p id="error">No sign-in was started here.</p>', 400)
  try {
    // checks the state, the issuer (RFC 9207), the PKCE verifier, and the ID token: signature, nonce, audience
    session.tokens = await client.authorizationCodeGrant(config, new URL(request.url, appUrl), {
      pkceCodeVerifier: pending.verifier, expectedState: pending.state, expectedNonce: pending.nonce, idTokenExpected: true
    })
  } catch (error) {
    return page(response, `<p id="error">${escape(error.error ?? error.message)}</p>`, 400)
  }
  session.claims = session.tokens.claims()
  session.userinfo = await client.fetchUserInfo(config, session.tokens.access_token, session.claims.sub)
  session.refreshes = 0
  redirect(response, '/')
}

async function refresh (response, session) {
  if (!session.tokens) return redirect(response, '/')
  session.tokens = await client.refreshTokenGrant(config, session.tokens.refresh_token)
  session.claims = session.tokens.claims()  // a new ID token for the same sign-in
  session.refreshes += 1
  redirect(response, '/')
}

// Signs out here, then at twofold (RP-Initiated Logout): twofold asks the person and links back home.
function logout (response, session) {
  const idToken = session.tokens?.id_token
  endSession(session)
  if (!idToken) return redirect(response, '/')
  session.signingOut = client.randomState()
  redirect(response, client.buildEndSessionUrl(config, {
    id_token_hint: idToken, post_logout_redirect_uri: home, state: session.signingOut
  }).href)
}

// twofold says a sign-in ended (Back-Channel Logout 1.0): the logout token is checked as its section 2.6 says,
// then every session of this app from that sign-in (the ID token's sid) ends.
async function backchannelLogout (request, response) {
  let body = ''
  for await (const chunk of request) body += chunk
  try {
    const { payload } = await jose.jwtVerify(new URLSearchParams(body).get('logout_token') ?? '', jwks, {
      algorithms: ['RS256'],
      typ: 'logout+jwt',
      issuer: config.serverMetadata().issuer,
      audience: config.clientMetadata().client_id,
      requiredClaims: ['iat', 'exp', 'jti', 'sid', 'events'],
      clockTolerance: 60
    })
    const events = payload.events
    if (typeof events !== 'object' || events === null || !(backchannelLogoutEvent in events) || 'nonce' in payload ||
        logoutTokensTaken.has(payload.jti)) throw new Error('not a logout token, or one taken before')
    logoutTokensTaken.add(payload.jti)
    for (const session of sessions.values()) {
      if (session.claims?.sid === payload.sid) endSession(session)
    }
  } catch (error) {
    response.writeHead(400, { 'Content-Type': 'application/json' })
    return response.end(JSON.stringify({ error: 'invalid_request', error_description: error.message }))
  }
  response.writeHead(200)
  response.end()
}

const server = createServer(async (request, response) => {
  const route = `${request.method} ${new URL(request.url, appUrl).pathname}`
  if (route === 'POST /backchannel-logout') return await backchannelLogout(request, response)  // twofold's, no session
  if (route === 'GET /backchannel-logout') {  // how many logout tokens were taken (the tests read it)
    response.writeHead(200, { 'Content-Type': 'application/json' })
    return response.end(JSON.stringify({ accepted: logoutTokensTaken.size }))
  }
  const session = sessionOf(request, response)
  try {
    if (route === 'GET /') return homePage(request, response, session)
    if (route === 'GET /login') return await login(response, session)
    if (route === 'GET /callback') return await callback(request, response, session)
    if (route === 'POST /refresh') return await refresh(response, session)
    if (route === 'POST /logout') return logout(response, session)
    page(response, 'Not found', 404)
  } catch (error) {
    page(response, `<p id="error">${escape(error.error ?? error.message)}</p>`, 502)
  }
})
server.listen(Number(appUrl.port || 80), appUrl.hostname, () => console.log(`example app on ${appUrl.href}`))
