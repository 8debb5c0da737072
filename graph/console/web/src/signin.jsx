// Sign in: crm dev's users, one button each; the configured issuer's
// sign-in page (when the gateway names the console's client id); a pasted
// token otherwise.
import { useEffect, useState } from "preact/hooks";
import { devSignIn, devUsers, oidcFinish, oidcPending, oidcStart, settings, tokenSignIn, wasExpired } from "./session.js";
import { Title } from "./ui.jsx";

function hostOf(issuer) {
  try {
    return new URL(issuer).host;
  } catch (e) {
    return issuer;
  }
}

export function SignIn({ onSignedIn }) {
  const [users, setUsers] = useState(null);
  const [cfg, setCfg] = useState(null);
  const [busy, setBusy] = useState(oidcPending);
  const [error, setError] = useState("");
  useEffect(() => {
    devUsers().then(setUsers);
    settings().then(setCfg);
    if (oidcPending()) {
      oidcFinish().then(onSignedIn, (e) => { setBusy(false); setError(e.message); });
    }
  }, []);
  const pick = (u) => devSignIn(u).then(onSignedIn, (e) => setError(e.message));
  const issuer = cfg && !cfg.dev && cfg.clientId && cfg.issuer ? cfg : null;
  const start = () => {
    setBusy(true);
    setError("");
    oidcStart(issuer).catch((e) => { setBusy(false); setError(e.message); });
  };
  const paste = (e) => {
    e.preventDefault();
    try {
      onSignedIn(tokenSignIn(new FormData(e.target).get("token") || ""));
    } catch (err) {
      setError(err.message);
    }
  };
  return (
    <section class="signin">
      <Title>Sign in</Title>
      {error && <p class="error" role="alert">{error}</p>}
      {!error && wasExpired() && <p class="notice" role="status">Your sign-in has expired: sign in again.</p>}
      {busy && <p role="status">Signing in…</p>}
      {issuer && (
        <>
          <h2>Your organization</h2>
          <p>
            <button type="button" id="oidc-signin" disabled={busy} onClick={start}>Sign in with {hostOf(issuer.issuer)}</button>
          </p>
        </>
      )}
      {users && users.length > 0 && (
        <>
          <h2>Development users</h2>
          <ul class="users">
            {users.map((u) => (
              <li key={u.sub}>
                <button type="button" data-sub={u.sub} onClick={() => pick(u)}>
                  {u.name} <span class="role">{u.role}</span>
                </button>
              </li>
            ))}
          </ul>
        </>
      )}
      <form onSubmit={paste} class="token">
        <h2>Access token</h2>
        <div class="field">
          <label for="token">Bearer token from your identity provider</label>
          <textarea id="token" name="token" rows="3" autocomplete="off" required />
        </div>
        <button type="submit">Sign in with token</button>
      </form>
    </section>
  );
}
