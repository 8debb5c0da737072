// Sign in: crm dev's users, one button each; a pasted token otherwise.
import { useEffect, useState } from "preact/hooks";
import { devSignIn, devUsers, tokenSignIn } from "./session.js";
import { Title } from "./ui.jsx";

export function SignIn({ onSignedIn }) {
  const [users, setUsers] = useState(null);
  const [error, setError] = useState("");
  useEffect(() => { devUsers().then(setUsers); }, []);
  const pick = (u) => devSignIn(u).then(onSignedIn, (e) => setError(e.message));
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
