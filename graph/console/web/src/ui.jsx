// Small shared pieces: form errors by field, formatting, data loading.
import { useEffect, useRef, useState } from "preact/hooks";
import { GraphQLError, onConnection } from "./gql.js";

// errorsFor splits a request's errors into those naming a field of the
// form (by extensions.field) and the rest; fallback maps a code without a
// field to one (a double booking's CONFLICT belongs at the time field).
export function errorsFor(err, fields, fallback) {
  const byField = {};
  const rest = [];
  const list = err instanceof GraphQLError ? err.errors : [{ code: "ERROR", message: String(err && err.message || err), field: "" }];
  for (const e of list) {
    let f = e.field;
    if (!fields.includes(f) && fallback && fallback[e.code]) f = fallback[e.code];
    if (fields.includes(f)) (byField[f] = byField[f] || []).push(e);
    else rest.push(e);
  }
  return { byField, rest };
}

function ErrorText({ id, errors }) {
  if (!errors || !errors.length) return null;
  return (
    <span id={id} class="error" role="alert">
      {errors.map((e) => <span key={e.code + e.message}><code>{e.code}</code> {e.message} </span>)}
    </span>
  );
}

// Field is a labelled input with the server's errors for it beside it.
export function Field({ form, name, label, errors, ...input }) {
  const id = form + "-" + name.replace(/\./g, "-");
  const errs = errors && errors.byField[name];
  return (
    <div class={"field" + (errs ? " invalid" : "")}>
      <label for={id}>{label}</label>
      <input id={id} name={name} aria-invalid={errs ? "true" : undefined}
        aria-describedby={errs ? id + "-error" : undefined} {...input} />
      <ErrorText id={id + "-error"} errors={errs} />
    </div>
  );
}

// FormErrors shows the errors that name no field of the form.
export function FormErrors({ errors, id }) {
  if (!errors || !errors.rest.length) return null;
  return <div class="form-errors"><ErrorText id={id} errors={errors.rest} /></div>;
}

export function ErrorBox({ error }) {
  if (!error) return null;
  const list = error instanceof GraphQLError ? error.errors : [{ code: "ERROR", message: String(error.message || error) }];
  return <div class="form-errors" role="alert">{list.map((e) => <div key={e.message}><code>{e.code}</code> {e.message}</div>)}</div>;
}

const pad = (n) => String(n).padStart(2, "0");
// when formats a time in the browser's zone, the same way everywhere.
export function when(t) {
  if (!t) return "";
  const d = new Date(t);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}
// localInput is a time as a datetime-local input's value.
export function localInput(t) {
  const d = new Date(t);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}
export const money = (m) => `${m.amount} ${m.currencyCode}`;

// sumMoney adds exact decimal amounts per currency (no floats).
export function sumMoney(list) {
  const by = {};
  for (const m of list) {
    const [i, f = ""] = m.amount.split(".");
    const t = by[m.currencyCode] || { units: 0n, scale: 0 };
    const scale = Math.max(t.scale, f.length);
    const units = t.units * 10n ** BigInt(scale - t.scale) + BigInt(i + f) * 10n ** BigInt(scale - f.length);
    by[m.currencyCode] = { units, scale };
  }
  return Object.keys(by).sort().map((c) => {
    const { units, scale } = by[c];
    const neg = units < 0n;
    const s = (neg ? -units : units).toString().padStart(scale + 1, "0");
    const amount = scale ? s.slice(0, -scale) + "." + s.slice(-scale) : s;
    return { amount: (neg ? "-" : "") + amount, currencyCode: c };
  });
}

// useConnection is the live socket's state.
export function useConnection() {
  const [s, set] = useState({ connected: false, lost: false, generation: 0 });
  useEffect(() => onConnection(set), []);
  return s;
}

// useQuery loads with fn and reloads on deps, on reload() (debounced, for
// pushes) and after the live connection comes back.
export function useQuery(fn, deps) {
  const [state, setState] = useState({ data: null, error: null, loading: true });
  const [tick, setTick] = useState(0);
  const { generation } = useConnection();
  const timer = useRef();
  useEffect(() => {
    let stale = false;
    fn().then((data) => { if (!stale) setState({ data, error: null, loading: false }); },
      (error) => { if (!stale) setState((s) => ({ data: s.data, error, loading: false })); });
    return () => { stale = true; };
  }, [...deps, tick, generation]);
  const reload = () => {
    clearTimeout(timer.current);
    timer.current = setTimeout(() => setTick((t) => t + 1), 50);
  };
  return { ...state, reload };
}

export function Title({ children }) {
  const ref = useRef();
  useEffect(() => { if (ref.current) ref.current.focus(); }, []);
  return <h1 tabIndex={-1} ref={ref}>{children}</h1>;
}
