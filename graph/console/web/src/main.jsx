// The CRM console: a shell (navigation, connection banner) around hash
// routes, so the server serves one page and reloads keep the place.
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import "./style.css";
import { can, load, onRenewed, signOut } from "./session.js";
import { useConnection } from "./ui.jsx";
import { SignIn } from "./signin.jsx";
import { Customers } from "./customers.jsx";
import { CustomerPage } from "./customer.jsx";
import { Agenda } from "./agenda.jsx";
import { Campaigns, Pipeline } from "./pipeline.jsx";
import { Activity } from "./activity.jsx";

function useHash() {
  const [hash, setHash] = useState(window.location.hash);
  useEffect(() => {
    const f = () => setHash(window.location.hash);
    window.addEventListener("hashchange", f);
    return () => window.removeEventListener("hashchange", f);
  }, []);
  return hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
}

function Banner({ session }) {
  const c = useConnection();
  const [online, setOnline] = useState(navigator.onLine);
  useEffect(() => {
    const f = () => setOnline(navigator.onLine);
    window.addEventListener("online", f);
    window.addEventListener("offline", f);
    return () => { window.removeEventListener("online", f); window.removeEventListener("offline", f); };
  }, []);
  if (!session || (online && !c.lost)) return <div id="connection" class="live" aria-live="polite">{c.connected ? "Live" : ""}</div>;
  if (c.refused) return <div id="connection" class="banner" role="alert">Connection refused: your sign-in is no longer accepted. Sign out and sign in again.</div>;
  return <div id="connection" class="banner" role="alert">Connection lost: reconnecting… Changes made meanwhile appear once it is back.</div>;
}

function Nav({ session, route, onSignOut }) {
  const r = session.role;
  const links = [["customers", "Customers"]];
  if (can.seeAppointments(r)) links.push(["agenda", "Agenda"]);
  links.push(["campaigns", "Campaigns"], ["activity", "Activity"]);
  return (
    <header>
      <nav aria-label="Main">
        <a class="brand" href="#/customers">CRM</a>
        {links.map(([k, label]) => <a key={k} href={"#/" + k} aria-current={route[0] === k ? "page" : undefined}>{label}</a>)}
      </nav>
      <div class="who">
        <span id="signed-in-as">{session.name} <span class="role">({session.role})</span></span>
        <button type="button" onClick={onSignOut}>Sign out</button>
      </div>
    </header>
  );
}

function App() {
  const [session, setSession] = useState(load);
  const route = useHash();
  useEffect(() => onRenewed(setSession), []);
  if (!session) return <><Banner /><main><SignIn onSignedIn={(s) => { setSession(s); window.location.hash = "#/customers"; }} /></main></>;
  const out = () => { signOut(); setSession(null); window.location.hash = ""; };
  let page;
  switch (route[0]) {
    case "customer": page = <CustomerPage key={route[1]} id={route[1]} session={session} />; break;
    case "agenda": page = <Agenda key={route[1] || ""} spId={route[1]} session={session} />; break;
    case "campaigns": page = <Campaigns session={session} />; break;
    case "campaign": page = <Pipeline key={route[1]} id={route[1]} session={session} />; break;
    case "activity": page = <Activity session={session} />; break;
    default: page = <Customers session={session} />;
  }
  return (
    <>
      <a class="skip" href="#content" onClick={(e) => { e.preventDefault(); document.getElementById("content").focus(); }}>Skip to content</a>
      <Nav session={session} route={route} onSignOut={out} />
      <Banner session={session} />
      <main id="content" tabIndex={-1}>{page}</main>
    </>
  );
}

render(<App />, document.getElementById("root"));
