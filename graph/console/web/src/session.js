// Signing in: a development user's token from crm dev's issuer (renewed
// before it expires), or a pasted token whose claims name the role.
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
      return s;
    }
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

// tokenSignIn takes a pasted token; its claims say who it is (the
// server still verifies it on every request).
export function tokenSignIn(token) {
  token = token.trim().replace(/^Bearer\s+/i, "");
  let c = {};
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    c = JSON.parse(atob(part + "===".slice((part.length + 3) % 4)));
  } catch (e) {
    throw new Error("this is not a JWT access token");
  }
  return save({ token, exp: c.exp || 0, dev: false, sub: c.sub || "", name: c.name || c.sub || "",
    role: c.crm_role || "viewer", salespersonId: c.crm_salesperson_id || "" });
}
