// The activity feed: events as the read side records them
// (eventRecorded), newest first; after a reconnection it resumes from the
// last event's cursor, so nothing is missed or shown twice.
import { useEffect, useRef, useState } from "preact/hooks";
import { subscribe } from "./gql.js";
import { ErrorBox, Title, useConnection, when } from "./ui.jsx";

const feed = `subscription Feed($after: String) {
  eventRecorded(after: $after) { id area type streamId occurredAt actor cursor }
}`;

export function Activity() {
  const [events, setEvents] = useState([]);
  const [error, setError] = useState(null);
  const cursor = useRef(null);
  const seen = useRef(new Set());
  const { generation } = useConnection();
  useEffect(() => subscribe(feed, { after: cursor.current }, (d) => {
    const ev = d.eventRecorded;
    cursor.current = ev.cursor;
    if (seen.current.has(ev.id)) return;
    seen.current.add(ev.id);
    setEvents((list) => [ev, ...list].slice(0, 200));
  }, (errs) => setError({ message: errs.map((e) => e.code + " " + e.message).join("; ") })), [generation]);
  return (
    <section>
      <Title>Activity</Title>
      <p class="muted">Events as they are recorded, newest first.</p>
      <ErrorBox error={error} />
      <ol class="history" id="activity" aria-live="polite">
        {events.map((ev) => (
          <li key={ev.id}>
            <span class={"area " + ev.area.toLowerCase()}>{ev.area.toLowerCase()}</span> <span class="type">{ev.type}</span> <time dateTime={ev.occurredAt}>{when(ev.occurredAt)}</time>
            {ev.actor && <span class="actor"> by <strong>{ev.actor}</strong></span>}
            <div class="muted">{ev.area === "CUSTOMERS" && ev.streamId ? <a href={"#/customer/" + ev.streamId}>{ev.streamId}</a> : ev.streamId}</div>
          </li>
        ))}
        {!events.length && <li class="muted">waiting for events…</li>}
      </ol>
    </section>
  );
}
