// A salesperson's agenda: upcoming appointments, live; schedule,
// reschedule, cancel and complete, each error at the field it concerns
// (a double booking's CONFLICT at the time field).
import { useEffect, useState } from "preact/hooks";
import { gql, subscribe } from "./gql.js";
import { ErrorBox, Field, FormErrors, Title, errorsFor, localInput, useQuery, when } from "./ui.jsx";
import { can } from "./session.js";

const agendaQuery = `query Agenda($sp: ID!, $from: Time!) {
  salesperson(id: $sp) { id name role customers(first: 100) { edges { node { id name status } } } }
  appointments(first: 100, filter: { salespersonId: $sp, from: $from }) {
    edges { node { id startsAt endsAt location status version notes cancellationReason customer { id name } } }
  }
}`;

// A CONFLICT without a field (the salesperson is booked then) is shown at
// the start time.
const timeFallback = { CONFLICT: "startsAt" };

function iso(local) {
  const d = new Date(local);
  return isNaN(d) ? local : d.toISOString();
}

function ScheduleForm({ sp, customers, onDone }) {
  const [errors, setErrors] = useState(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e) => {
    e.preventDefault();
    const f = new FormData(e.target);
    const start = iso(f.get("startsAt"));
    const minutes = Number(f.get("duration") || 60);
    const input = { customerId: f.get("customerId"), salespersonId: sp.id, startsAt: start,
      endsAt: new Date(new Date(start).getTime() + minutes * 60000).toISOString(), location: f.get("location") };
    if (isNaN(new Date(start))) { setErrors({ byField: { startsAt: [{ code: "BAD_USER_INPUT", message: "give a start time" }] }, rest: [] }); return; }
    setBusy(true);
    try {
      await gql(`mutation S($input: ScheduleAppointmentInput!) { scheduleAppointment(input: $input) { id } }`, { input });
      setErrors(null);
      e.target.reset();
      onDone();
    } catch (err) {
      setErrors(errorsFor(err, ["customerId", "startsAt", "endsAt", "location"], timeFallback));
    } finally {
      setBusy(false);
    }
  };
  const tomorrow = new Date(Date.now() + 86400000);
  tomorrow.setHours(10, 0, 0, 0);
  const cusErr = errors && errors.byField.customerId;
  return (
    <form id="schedule-form" class="grid" noValidate onSubmit={submit}>
      <div class={"field" + (cusErr ? " invalid" : "")}>
        <label for="schedule-customerId">Customer</label>
        <select id="schedule-customerId" name="customerId" required>
          {customers.filter((c) => c.status === "ACTIVE").map((c) => <option key={c.id} value={c.id}>{c.name}</option>)}
        </select>
        {cusErr && <span class="error" role="alert">{cusErr.map((e) => <span key={e.message}><code>{e.code}</code> {e.message}</span>)}</span>}
      </div>
      <Field form="schedule" name="startsAt" label="Starts at" type="datetime-local" errors={errors} defaultValue={localInput(tomorrow)} required />
      <div class="field">
        <label for="schedule-duration">Duration (minutes)</label>
        <input id="schedule-duration" name="duration" type="number" min="5" max="480" step="5" defaultValue="60" />
        {errors && errors.byField.endsAt && <span class="error" role="alert">{errors.byField.endsAt.map((e) => <span key={e.message}><code>{e.code}</code> {e.message}</span>)}</span>}
      </div>
      <Field form="schedule" name="location" label="Location" errors={errors} defaultValue="Customer site" required />
      <FormErrors errors={errors} id="schedule-errors" />
      <div class="actions"><button type="submit" disabled={busy}>Schedule</button></div>
    </form>
  );
}

function Actions({ a, editable, onDone }) {
  const [mode, setMode] = useState("");
  const [errors, setErrors] = useState(null);
  const started = new Date(a.startsAt) <= new Date();
  if (!editable || a.status !== "SCHEDULED") return null;
  const run = async (mutation, type, input, fields) => {
    try {
      await gql(`mutation A($input: ${type}!) { ${mutation}(input: $input) { id } }`, { input: { id: a.id, expectedVersion: a.version, ...input } });
      setErrors(null);
      setMode("");
      onDone();
    } catch (err) {
      setErrors(errorsFor(err, fields, mutation === "rescheduleAppointment" ? timeFallback : null));
    }
  };
  const form = "apt-" + a.id;
  return (
    <div class="apt-actions">
      <div class="buttons">
        <button type="button" aria-expanded={mode === "reschedule"} onClick={() => { setMode(mode === "reschedule" ? "" : "reschedule"); setErrors(null); }}>Reschedule</button>
        <button type="button" aria-expanded={mode === "cancel"} onClick={() => { setMode(mode === "cancel" ? "" : "cancel"); setErrors(null); }}>Cancel…</button>
        {started && <button type="button" aria-expanded={mode === "complete"} onClick={() => { setMode(mode === "complete" ? "" : "complete"); setErrors(null); }}>Complete…</button>}
      </div>
      {mode === "reschedule" && (
        <form class="grid" noValidate onSubmit={(e) => {
          e.preventDefault();
          const f = new FormData(e.target);
          const start = iso(f.get("startsAt"));
          const dur = new Date(a.endsAt) - new Date(a.startsAt);
          run("rescheduleAppointment", "RescheduleAppointmentInput",
            { startsAt: start, endsAt: new Date(new Date(start).getTime() + dur).toISOString(), location: f.get("location") },
            ["startsAt", "endsAt", "location", "expectedVersion"]);
        }}>
          <Field form={form} name="startsAt" label="New start" type="datetime-local" errors={errors} defaultValue={localInput(a.startsAt)} />
          <Field form={form} name="location" label="Location" errors={errors} defaultValue={a.location} />
          <FormErrors errors={errors} />
          <div class="actions"><button type="submit">Move appointment</button></div>
        </form>
      )}
      {mode === "cancel" && (
        <form class="grid" noValidate onSubmit={(e) => { e.preventDefault(); run("cancelAppointment", "CancelAppointmentInput", { reason: new FormData(e.target).get("reason") }, ["reason"]); }}>
          <Field form={form} name="reason" label="Reason" errors={errors} required />
          <FormErrors errors={errors} />
          <div class="actions"><button type="submit">Cancel appointment</button></div>
        </form>
      )}
      {mode === "complete" && (
        <form class="grid" noValidate onSubmit={(e) => { e.preventDefault(); run("completeAppointment", "CompleteAppointmentInput", { notes: new FormData(e.target).get("notes") || null }, ["notes"]); }}>
          <Field form={form} name="notes" label="Notes" errors={errors} />
          <FormErrors errors={errors} />
          <div class="actions"><button type="submit">Complete appointment</button></div>
        </form>
      )}
    </div>
  );
}

function Picker({ spId }) {
  const q = useQuery(() => gql(`{ salespeople { id name role } }`), []);
  const list = (q.data && q.data.salespeople) || [];
  return (
    <div class="field picker">
      <label for="agenda-sp">Salesperson</label>
      <select id="agenda-sp" value={spId || ""} onChange={(e) => { window.location.hash = "#/agenda/" + e.target.value; }}>
        <option value="">Choose…</option>
        {list.map((s) => <option key={s.id} value={s.id}>{s.name} ({s.role === "MANAGER" ? "manager" : "sales rep"})</option>)}
      </select>
    </div>
  );
}

export function Agenda({ spId, session }) {
  const sp = spId || session.salespersonId;
  const [from] = useState(() => { const d = new Date(); d.setHours(0, 0, 0, 0); return d.toISOString(); });
  const q = useQuery(() => (sp ? gql(agendaQuery, { sp, from }) : Promise.resolve(null)), [sp]);
  useEffect(() => (sp ? subscribe("subscription ($sp: ID) { appointmentChanged(salespersonId: $sp) { id } }", { sp }, q.reload) : undefined), [sp]);
  const picker = can.pickSalesperson(session.role) || (session.role === "manager");
  const d = q.data;
  const editable = can.schedule(session.role);
  const list = d ? d.appointments.edges.map((e) => e.node).sort((x, y) => x.startsAt.localeCompare(y.startsAt)) : [];
  return (
    <section>
      <Title>Agenda{d && d.salesperson ? ": " + d.salesperson.name : ""}</Title>
      {picker && <Picker spId={sp} />}
      <ErrorBox error={q.error} />
      {!sp && <p>Choose a salesperson.</p>}
      {d && !d.salesperson && <p>No salesperson {sp} that you may see.</p>}
      {d && d.salesperson && (
        <div class="cards">
          <article class="card wide">
            <h2>Upcoming appointments</h2>
            <ol class="agenda" id="agenda">
              {list.map((a) => (
                <li key={a.id} class={a.status.toLowerCase()} data-id={a.id}>
                  <div><time dateTime={a.startsAt}>{when(a.startsAt)}</time>–{when(a.endsAt).slice(11)} <a href={"#/customer/" + a.customer.id}>{a.customer.name}</a>, {a.location} <span class={"status " + a.status.toLowerCase()}>{a.status}</span>
                    {a.cancellationReason && <span class="muted"> ({a.cancellationReason})</span>}{a.notes && <span class="muted"> ({a.notes})</span>}</div>
                  <Actions a={a} editable={editable} onDone={q.reload} />
                </li>
              ))}
              {!list.length && <li class="muted">no appointments from today on</li>}
            </ol>
          </article>
          {editable && (
            <article class="card">
              <h2>Schedule an appointment</h2>
              <ScheduleForm sp={d.salesperson} customers={d.salesperson.customers.edges.map((e) => e.node)} onDone={q.reload} />
            </article>
          )}
        </div>
      )}
    </section>
  );
}
