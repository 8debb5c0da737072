// A customer: contact data (editable by those who may), account team,
// interests, products, appointments, deals and the history of its events.
import { useEffect, useState } from "preact/hooks";
import { gql, subscribe } from "./gql.js";
import { ErrorBox, Field, FormErrors, Title, errorsFor, money, useQuery, when } from "./ui.jsx";
import { can } from "./session.js";

function customerQuery(role) {
  const personal = can.seePersonal(role) ? "email phone address { street city postalCode country }" : "";
  const appts = can.seeAppointments(role)
    ? "appointments(first: 100) { edges { node { id startsAt endsAt location status salesperson { id name } } } }" : "";
  return `query Customer($id: ID!) {
  customer(id: $id) {
    id name status version createdAt ${personal}
    salesRep { id name } manager { id name }
    interests products openDealCount wonDealTotal { amount currencyCode }
    ${appts}
    deals { id product stage value { amount currencyCode } campaign { id name } }
  }
}`;
}

const historyQuery = `query History($id: ID!, $after: String) {
  customer(id: $id) { history(first: 100, after: $after) {
    pageInfo { hasNextPage endCursor }
    edges { node { id area type occurredAt actor data } } } }
}`;

async function loadCustomer(id, role) {
  const d = await gql(customerQuery(role), { id });
  if (!d.customer) return d;
  const history = [];
  let after = null;
  for (let i = 0; i < 5; i++) { // at most 500 events
    const h = (await gql(historyQuery, { id, after })).customer.history;
    history.push(...h.edges.map((e) => e.node));
    if (!h.pageInfo.hasNextPage) break;
    after = h.pageInfo.endCursor;
  }
  return { customer: { ...d.customer, history: history.reverse() } };
}

const contactFields = ["name", "email", "phone", "address.street", "address.city", "address.postalCode", "address.country"];

function ContactForm({ c, onSaved }) {
  const [errors, setErrors] = useState(null);
  const [saved, setSaved] = useState("");
  const [busy, setBusy] = useState(false);
  const submit = async (e) => {
    e.preventDefault();
    const f = new FormData(e.target);
    const input = { id: c.id, expectedVersion: c.version };
    for (const k of ["name", "email", "phone"]) {
      const v = f.get(k).trim();
      if (v !== (c[k] || "")) input[k] = v;
    }
    const a = c.address || {};
    const addr = {};
    let changed = false;
    for (const k of ["street", "city", "postalCode", "country"]) {
      addr[k] = f.get("address." + k).trim();
      if (addr[k] !== (a[k] || "")) changed = true;
    }
    if (changed) input.address = addr;
    setBusy(true);
    setSaved("");
    try {
      await gql(`mutation Update($input: UpdateCustomerInput!) { updateCustomer(input: $input) { id version } }`, { input });
      setErrors(null);
      setSaved("Saved.");
      onSaved();
    } catch (err) {
      setErrors(errorsFor(err, contactFields));
    } finally {
      setBusy(false);
    }
  };
  const a = c.address || {};
  const editable = c.status === "ACTIVE";
  return (
    <form id="contact-form" class="grid" noValidate onSubmit={submit} aria-labelledby="contact-h">
      <Field form="contact" name="name" label="Name" errors={errors} defaultValue={c.name} key={"n" + c.version} required disabled={!editable} />
      <Field form="contact" name="email" label="Email" type="email" errors={errors} defaultValue={c.email} key={"e" + c.version} disabled={!editable} />
      <Field form="contact" name="phone" label="Phone" type="tel" errors={errors} defaultValue={c.phone || ""} key={"p" + c.version} disabled={!editable} />
      <Field form="contact" name="address.street" label="Street" errors={errors} defaultValue={a.street || ""} key={"s" + c.version} disabled={!editable} />
      <Field form="contact" name="address.city" label="City" errors={errors} defaultValue={a.city || ""} key={"c" + c.version} disabled={!editable} />
      <Field form="contact" name="address.postalCode" label="Postal code" errors={errors} defaultValue={a.postalCode || ""} key={"z" + c.version} disabled={!editable} />
      <Field form="contact" name="address.country" label="Country" errors={errors} defaultValue={a.country || ""} key={"k" + c.version} disabled={!editable} />
      <FormErrors errors={errors} id="contact-errors" />
      {editable && <div class="actions"><button type="submit" disabled={busy}>Save contact data</button> <span role="status" id="contact-saved">{saved}</span></div>}
    </form>
  );
}

function Contact({ c }) {
  const a = c.address;
  return (
    <dl class="facts">
      {c.email !== undefined && <><dt>Email</dt><dd id="customer-email">{c.email}</dd></>}
      {c.phone !== undefined && <><dt>Phone</dt><dd id="customer-phone">{c.phone || "—"}</dd></>}
      {a !== undefined && <><dt>Address</dt><dd>{a ? [a.street, a.postalCode, a.city, a.country].filter(Boolean).join(", ") : "—"}</dd></>}
    </dl>
  );
}

// TeamForm sets the account team (admin, and a manager for their own
// customers); its errors at the sales rep or manager field.
function TeamForm({ c, onSaved }) {
  const q = useQuery(() => gql(`{ salespeople { id name role } }`), []);
  const [errors, setErrors] = useState(null);
  const list = (q.data && q.data.salespeople) || [];
  const submit = async (e) => {
    e.preventDefault();
    const f = new FormData(e.target);
    try {
      await gql(`mutation T($input: AssignAccountTeamInput!) { assignAccountTeam(input: $input) { id } }`,
        { input: { customerId: c.id, salesRepId: f.get("salesRepId"), managerId: f.get("managerId") || null } });
      setErrors(null);
      onSaved();
    } catch (err) {
      setErrors(errorsFor(err, ["salesRepId", "managerId"]));
    }
  };
  const select = (name, label, role, value, optional) => {
    const errs = errors && errors.byField[name];
    return (
      <div class={"field" + (errs ? " invalid" : "")}>
        <label for={"team-" + name}>{label}</label>
        <select id={"team-" + name} name={name} defaultValue={value} key={value + list.length}
          aria-invalid={errs ? "true" : undefined} aria-describedby={errs ? "team-" + name + "-error" : undefined}>
          {optional && <option value="">the sales rep's own manager</option>}
          {list.filter((s) => s.role === role).map((s) => <option key={s.id} value={s.id}>{s.name}</option>)}
        </select>
        {errs && <span id={"team-" + name + "-error"} class="error" role="alert">{errs.map((e) => <span key={e.message}><code>{e.code}</code> {e.message}</span>)}</span>}
      </div>
    );
  };
  return (
    <form id="team-form" class="grid" noValidate onSubmit={submit}>
      {select("salesRepId", "Sales rep", "SALES_REP", c.salesRep ? c.salesRep.id : "", false)}
      {select("managerId", "Manager", "MANAGER", c.manager ? c.manager.id : "", true)}
      <FormErrors errors={errors} />
      <div class="actions"><button type="submit">Assign account team</button></div>
    </form>
  );
}

function Interests({ c, editable, onChanged }) {
  const [errors, setErrors] = useState(null);
  const run = async (mutation, interest, form) => {
    try {
      await gql(`mutation M($input: ${mutation === "recordInterest" ? "RecordInterestInput" : "RemoveInterestInput"}!) { ${mutation}(input: $input) { id } }`,
        { input: { customerId: c.id, interest } });
      setErrors(null);
      if (form) form.reset();
      onChanged();
    } catch (err) {
      setErrors(errorsFor(err, ["interest"]));
    }
  };
  return (
    <>
      <ul class="chips" id="interests">
        {c.interests.map((i) => (
          <li key={i}>{i}{editable && <button type="button" class="link" aria-label={"Remove interest " + i} onClick={() => run("removeInterest", i)}>×</button>}</li>
        ))}
        {!c.interests.length && <li class="muted">none</li>}
      </ul>
      {editable && (
        <form class="inline" onSubmit={(e) => { e.preventDefault(); run("recordInterest", new FormData(e.target).get("interest"), e.target); }}>
          <Field form="interest" name="interest" label="Add interest" errors={errors} required />
          <button type="submit">Add</button>
          <FormErrors errors={errors} />
        </form>
      )}
    </>
  );
}

// summary says what an event changed, in a line.
function summary(ev) {
  const d = ev.data || {};
  const parts = [];
  for (const [k, v] of Object.entries(d)) {
    if (/Id$|^id$|At$/.test(k) || v === null || typeof v === "object") continue;
    parts.push(`${k}: ${v}`);
  }
  return parts.slice(0, 4).join(", ");
}

export function History({ events }) {
  return (
    <ol class="history" id="history">
      {events.map((ev) => (
        <li key={ev.id}>
          <span class="type">{ev.type}</span> <time dateTime={ev.occurredAt}>{when(ev.occurredAt)}</time>
          {ev.actor && <span class="actor"> by <strong>{ev.actor}</strong></span>}
          <div class="muted">{summary(ev)}</div>
        </li>
      ))}
      {!events.length && <li class="muted">no events visible to you</li>}
    </ol>
  );
}

export function CustomerPage({ id, session }) {
  const role = session.role;
  const q = useQuery(() => loadCustomer(id, role), [id]);
  useEffect(() => {
    const offs = [subscribe("subscription ($id: ID) { customerChanged(id: $id) { id } }", { id }, q.reload),
      subscribe("subscription ($id: ID) { dealChanged(customerId: $id) { id } }", { id }, q.reload)];
    if (can.seeAppointments(role)) offs.push(subscribe("subscription ($id: ID) { appointmentChanged(customerId: $id) { id } }", { id }, q.reload));
    return () => offs.forEach((f) => f());
  }, [id]);
  if (!q.data) return <section><Title>Customer</Title><ErrorBox error={q.error} />{q.loading && <p>Loading…</p>}</section>;
  const c = q.data.customer;
  if (!c) return <section><Title>Customer not found</Title><p>No customer {id} that you may see.</p></section>;
  const editable = can.editCustomer(role) && c.status === "ACTIVE";
  return (
    <section class="customer">
      <Title>{c.name}</Title>
      <p><span class={"status " + c.status.toLowerCase()}>{c.status}</span> <span class="muted">version {c.version}, since {when(c.createdAt)}</span></p>
      <ErrorBox error={q.error} />
      <div class="cards">
        <article class="card">
          <h2 id="contact-h">Contact</h2>
          {editable ? <ContactForm c={c} onSaved={q.reload} /> : <Contact c={c} />}
          {editable && <Contact c={c} />}
        </article>
        <article class="card">
          <h2>Account team</h2>
          <dl class="facts">
            <dt>Sales rep</dt><dd>{c.salesRep ? <a href={"#/agenda/" + c.salesRep.id}>{c.salesRep.name}</a> : "—"}</dd>
            <dt>Manager</dt><dd>{c.manager ? c.manager.name : "—"}</dd>
          </dl>
          {editable && can.assignTeam(role) && <details><summary>Change the account team</summary><TeamForm c={c} onSaved={q.reload} /></details>}
          <h2>Interests</h2>
          <Interests c={c} editable={editable} onChanged={q.reload} />
          <h2>Products</h2>
          <ul class="chips">{c.products.map((p) => <li key={p}>{p}</li>)}{!c.products.length && <li class="muted">none</li>}</ul>
        </article>
        {c.appointments && (
          <article class="card">
            <h2>Appointments</h2>
            <ul class="list" id="customer-appointments">
              {c.appointments.edges.map(({ node: a }) => (
                <li key={a.id} class={a.status.toLowerCase()}>
                  <time dateTime={a.startsAt}>{when(a.startsAt)}</time> with <a href={"#/agenda/" + a.salesperson.id}>{a.salesperson.name}</a>, {a.location} <span class={"status " + a.status.toLowerCase()}>{a.status}</span>
                </li>
              ))}
              {!c.appointments.edges.length && <li class="muted">none</li>}
            </ul>
          </article>
        )}
        <article class="card">
          <h2>Deals</h2>
          <p class="muted">{c.openDealCount} open; won {c.wonDealTotal.map(money).join(", ") || "nothing yet"}</p>
          <ul class="list" id="customer-deals">
            {c.deals.map((d) => (
              <li key={d.id}>{d.product}: {money(d.value)} <span class={"status " + d.stage.toLowerCase()}>{d.stage}</span>
                {d.campaign && <> in <a href={"#/campaign/" + d.campaign.id}>{d.campaign.name}</a></>}</li>
            ))}
            {!c.deals.length && <li class="muted">none</li>}
          </ul>
        </article>
      </div>
      <article class="card">
        <h2>History</h2>
        <History events={c.history} />
      </article>
    </section>
  );
}
