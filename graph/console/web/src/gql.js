// The GraphQL client: queries and mutations over fetch, subscriptions over
// one graphql-ws connection that reconnects and resubscribes by itself.
import { createClient } from "graphql-ws";

const endpoint = new URL("../graphql", window.location.href);

// GraphQLError is what a request answered instead of data: each entry has
// code (extensions.code), message and field (extensions.field, if any).
export class GraphQLError extends Error {
  constructor(errors) {
    super(errors.map((e) => e.message).join("; "));
    this.errors = errors;
  }
}

function normalize(errs) {
  return errs.map((e) => ({
    message: e.message,
    code: (e.extensions && e.extensions.code) || "ERROR",
    field: (e.extensions && e.extensions.field) || "",
  }));
}

let token = "";
// setToken sets the token of every request from now on. A new user gets a
// new socket; a renewed token (keepSocket) is sent at the next connection
// only, so the subscriptions running go on.
export function setToken(t, keepSocket) {
  token = t;
  if (!keepSocket) resetSocket();
}

// gql runs a query or mutation; it throws a GraphQLError on errors.
export async function gql(query, variables) {
  let resp;
  try {
    resp = await fetch(endpoint, {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: "Bearer " + token },
      body: JSON.stringify({ query, variables }),
    });
  } catch (e) {
    throw new GraphQLError([{ message: "the server cannot be reached", code: "NETWORK", field: "" }]);
  }
  let body;
  try {
    body = await resp.json();
  } catch (e) {
    throw new GraphQLError([{ message: "HTTP " + resp.status, code: "HTTP_" + resp.status, field: "" }]);
  }
  if (body.errors && body.errors.length) throw new GraphQLError(normalize(body.errors));
  return body.data;
}

// ------------------------------------------------------------ live socket
const listeners = new Set();
let state = { connected: false, lost: false, refused: false, generation: 0 };
function setState(s) {
  state = { ...state, ...s };
  listeners.forEach((f) => f(state));
}

// onConnection calls f with {connected, lost, refused, generation} at each
// change; generation counts (re)connections, so a screen refetches after a
// gap; refused means the server would not take the token (sign in again).
export function onConnection(f) {
  listeners.add(f);
  f(state);
  return () => listeners.delete(f);
}

let client = null;
function resetSocket() {
  if (client) client.dispose();
  client = null;
  setState({ connected: false, lost: false, refused: false });
}

// Close codes after which retrying cannot help: the token was refused
// (4401, 4403) or the request was bad (4400).
const final = new Set([4400, 4401, 4403]);

function socket() {
  if (client) return client;
  const url = new URL(endpoint);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  let pingTimer;
  let active;
  client = createClient({
    url: url.href,
    lazy: false,
    keepAlive: 3000,
    retryAttempts: Infinity,
    shouldRetry: (e) => !(e && final.has(e.code)),
    retryWait: (n) => new Promise((r) => setTimeout(r, Math.min(300 * 2 ** n, 3000))),
    connectionParams: () => ({ authorization: "Bearer " + token }),
    on: {
      opened: (s) => { active = s; },
      connected: () => setState({ connected: true, lost: false, generation: state.generation + 1 }),
      closed: (e) => { clearTimeout(pingTimer); setState({ connected: false, lost: true, refused: !!(e && final.has(e.code)) }); },
      // A ping with no pong in 3 s: the network is gone; close, retry.
      ping: (received) => {
        if (!received) pingTimer = setTimeout(() => { if (active && active.readyState === WebSocket.OPEN) active.close(4408, "Request Timeout"); }, 3000);
      },
      pong: (received) => { if (received) clearTimeout(pingTimer); },
    },
  });
  return client;
}

window.addEventListener("offline", () => setState({ connected: false, lost: true }));

// subscribe runs a subscription; next gets each payload's data, error the
// normalized errors. It returns the unsubscribe function.
export function subscribe(query, variables, next, error) {
  return socket().subscribe({ query, variables }, {
    next: (r) => {
      if (r.errors && r.errors.length) { if (error) error(normalize(r.errors)); return; }
      next(r.data);
    },
    error: (e) => { if (error) error(Array.isArray(e) ? normalize(e) : [{ code: "NETWORK", message: String((e && e.reason) || e), field: "" }]); },
    complete: () => {},
  });
}
