// Signing in: a development user's token from crm dev's issuer (renewed
// before it expires), the configured issuer's sign-in page (OpenID
// Connect Authorization Code flow with PKCE), or a pasted token whose
// claims name the role.
import { setToken } from "./gql.js";

const key = "crm-console-session";
const base = new URL("../", window.location.href); // the gateway's root
let renew;

// Roles (docs/access.md) and what each may do, so the console offers
// only what the server would allow.
const editors = ["admin", "manager", "sales"];
export const can = {
  seePersonal: (r) => editors.includes(r),
  editCustomer: (r) => editors.includes(r),
  seeAppointments: (r) => r !== "marketing",
  schedule: (r) => editors.includes(r),
  pickSalesperson: (r) => r === "admin" || r === "manager" || r === "viewer",
  closeDeal: (r) => r !== "viewer",
  assignTeam: (r) => r === "admin" || r === "manager",
};

export function load() {
  try {
    const s = JSON.parse(localStorage.getItem(key) || "null");
    if (s && s.token && (!s.exp || s.exp > Date.now() / 1000)) {
      setToken(s.token);
      if (s.sub && s.dev) scheduleRenew(s);
      if (s.oidc) scheduleOidc(s);
      return s;
    }
    if (s && s.oidc) expired = true; // ask to sign in again, saying why
  } catch (e) { /* a broken entry: sign in again */ }
  return null;
}

function save(s, renewal) {
  localStorage.setItem(key, JSON.stringify(s));
  setToken(s.token, renewal);
  return s;
}

export function signOut() {
  clearTimeout(renew);
  expired = false;
  localStorage.removeItem(key);
  setToken("");
}

// devUsers lists the development issuer's users; [] outside crm dev.
export async function devUsers() {
  try {
    const r = await fetch(new URL("dev/users", base));
    if (!r.ok) return [];
    return await r.json();
  } catch (e) {
    return [];
  }
}

function scheduleRenew(s) {
  clearTimeout(renew);
  const left = (s.exp || 0) - Date.now() / 1000 - 60;
  renew = setTimeout(() => devSignIn(s, true).then(onRenew).catch(() => {}), Math.max(10, left) * 1000);
}
let onRenew = () => {};
export function onRenewed(f) { onRenew = f; }

// devSignIn gets a token for a development user (again, when renewal).
export async function devSignIn(u, renewal) {
  const r = await fetch(new URL("dev/token", base), {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ sub: u.sub }),
  });
  if (!r.ok) throw new Error("sign-in failed: HTTP " + r.status);
  const t = await r.json();
  const s = save({ token: t.access_token, exp: Date.now() / 1000 + t.expires_in, dev: true,
    sub: u.sub, name: u.name, role: u.role, salespersonId: u.salespersonId || "" }, renewal);
  scheduleRenew(s);
  return s;
}

// claimsOf decodes a JWT's claims (without verifying it: the server does).
function claimsOf(token) {
  const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
  return JSON.parse(atob(part + "===".slice((part.length + 3) % 4)));
}

// tokenSignIn takes a pasted token; its claims say who it is (the
// server still verifies it on every request).
export function tokenSignIn(token) {
  token = token.trim().replace(/^Bearer\s+/i, "");
  let c = {};
  try {
    c = claimsOf(token);
  } catch (e) {
    throw new Error("this is not a JWT access token");
  }
  return save({ token, exp: c.exp || 0, dev: false, sub: c.sub || "", name: c.name || c.sub || "",
    role: c.crm_role || "viewer", salespersonId: c.crm_salesperson_id || "" });
}

// settings are the gateway's console settings: {issuer, clientId, dev}.
export async function settings() {
  try {
    const r = await fetch(new URL("config.json", window.location.href));
    return r.ok ? await r.json() : {};
  } catch (e) {
    return {};
  }
}

// The OpenID Connect Authorization Code flow with PKCE (docs/auth.md):
// oidcStart sends the browser to the issuer's sign-in page; it comes back
// to this page with ?code&state, which oidcFinish redeems for a token.
const flowKey = "crm-console-oidc";
let expired = false;

// wasExpired says the last sign-in ended because its token expired.
export function wasExpired() { return expired; }

function b64url(bytes) {
  let s = "";
  bytes.forEach((b) => { s += String.fromCharCode(b); });
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}
const random = (n) => b64url(crypto.getRandomValues(new Uint8Array(n)));

// redirectURI is this console's address, without query or fragment.
function redirectURI() { return new URL(".", window.location.href).href; }

async function discover(issuer) {
  const r = await fetch(issuer.replace(/\/$/, "") + "/.well-known/openid-configuration");
  if (!r.ok) throw new Error("the issuer's discovery document: HTTP " + r.status);
  const d = await r.json();
  if (!d.authorization_endpoint || !d.token_endpoint) throw new Error("the issuer names no authorization or token endpoint");
  return d;
}

export async function oidcStart(cfg) {
  const d = await discover(cfg.issuer);
  const verifier = random(32);
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  const flow = { verifier, state: random(16), nonce: random(16), clientId: cfg.clientId, tokenEndpoint: d.token_endpoint };
  sessionStorage.setItem(flowKey, JSON.stringify(flow));
  const u = new URL(d.authorization_endpoint);
  const q = { response_type: "code", client_id: cfg.clientId, redirect_uri: redirectURI(), scope: "openid profile",
    state: flow.state, nonce: flow.nonce, code_challenge: b64url(new Uint8Array(digest)), code_challenge_method: "S256" };
  for (const [k, v] of Object.entries(q)) u.searchParams.set(k, v);
  window.location.assign(u.href);
}

// oidcPending says this page is the issuer's answer to a sign-in.
export function oidcPending() {
  const q = new URLSearchParams(window.location.search);
  return q.has("code") || q.has("error");
}

export async function oidcFinish() {
  const q = new URLSearchParams(window.location.search);
  let flow = null;
  try { flow = JSON.parse(sessionStorage.getItem(flowKey) || "null"); } catch (e) { /* none */ }
  sessionStorage.removeItem(flowKey);
  window.history.replaceState(null, "", redirectURI()); // the code is of no further use
  if (q.has("error")) throw new Error("the issuer did not sign you in: " + (q.get("error_description") || q.get("error")));
  if (!flow || !q.get("state") || q.get("state") !== flow.state) throw new Error("sign-in failed: that answer is not of a sign-in started here");
  const t = await tokenRequest(flow.tokenEndpoint, { grant_type: "authorization_code", code: q.get("code"),
    redirect_uri: redirectURI(), client_id: flow.clientId, code_verifier: flow.verifier });
  if (t.id_token) {
    let idc = {};
    try { idc = claimsOf(t.id_token); } catch (e) { /* checked below */ }
    if (idc.nonce !== flow.nonce) throw new Error("sign-in failed: the ID token is not of this sign-in (nonce)");
  }
  return oidcSession(t, flow, false);
}

// tokenRequest posts a form to the token endpoint (a simple request).
async function tokenRequest(endpoint, form) {
  let r;
  try {
    r = await fetch(endpoint, { method: "POST", body: new URLSearchParams(form) });
  } catch (e) {
    throw new Error("sign-in failed: the issuer's token endpoint is unreachable");
  }
  const t = await r.json().catch(() => ({}));
  if (!r.ok || !t.access_token) throw new Error("sign-in failed: " + (t.error_description || t.error || "HTTP " + r.status));
  return t;
}

function oidcSession(t, flow, renewal) {
  let c = {};
  try { c = claimsOf(t.access_token); } catch (e) { /* an opaque token: the ID token names the user */ }
  if (!c.sub && t.id_token) { try { c = claimsOf(t.id_token); } catch (e) { /* none */ } }
  const s = save({ token: t.access_token, exp: t.expires_in ? Date.now() / 1000 + t.expires_in : c.exp || 0, dev: false, oidc: true,
    refresh: t.refresh_token || "", tokenEndpoint: flow.tokenEndpoint, clientId: flow.clientId,
    sub: c.sub || "", name: c.name || c.preferred_username || c.sub || "", role: c.crm_role || "viewer",
    salespersonId: c.crm_salesperson_id || "" }, renewal);
  expired = false;
  scheduleOidc(s);
  return s;
}

// scheduleOidc renews the token with the refresh token, if the issuer
// gave one, a minute before it expires; without, the console asks to sign
// in again when it expires.
function scheduleOidc(s) {
  clearTimeout(renew);
  if (!s.exp) return;
  const left = s.exp - Date.now() / 1000;
  const end = () => { signOut(); expired = true; onRenew(null); };
  if (!s.refresh) {
    renew = setTimeout(end, Math.max(0, left) * 1000);
    return;
  }
  renew = setTimeout(() => {
    tokenRequest(s.tokenEndpoint, { grant_type: "refresh_token", refresh_token: s.refresh, client_id: s.clientId })
      .then((t) => onRenew(oidcSession({ refresh_token: s.refresh, ...t }, s, true)), end);
  }, Math.max(5, left - 60) * 1000);
}
