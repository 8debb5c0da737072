// Customers: search, status, paging; reloads when any customer changes.
import { useEffect, useState } from "preact/hooks";
import { gql, subscribe } from "./gql.js";
import { ErrorBox, Title, useQuery, when } from "./ui.jsx";
import { can } from "./session.js";

const pageSize = 20;
const listQuery = `query Customers($first: Int, $after: String, $filter: CustomerFilter) {
  customers(first: $first, after: $after, filter: $filter) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { id name status salesRep { id name } nextAppointment { id startsAt } openDealCount } }
  }
}`;

export function Customers({ session }) {
  const [search, setSearch] = useState("");
  const [status, setStatus] = useState("");
  const [cursors, setCursors] = useState([null]); // the after of each page seen
  const after = cursors[cursors.length - 1];
  const q = useQuery(() => gql(listQuery, {
    first: pageSize, after, filter: { search: search || null, status: status || null },
  }), [search, status, after]);
  useEffect(() => subscribe("subscription { customerChanged { id } }", {}, q.reload), []);
  const filter = (e) => {
    e.preventDefault();
    const f = new FormData(e.target);
    setSearch(f.get("search").trim());
    setStatus(f.get("status"));
    setCursors([null]);
  };
  const c = q.data && q.data.customers;
  const first = (cursors.length - 1) * pageSize;
  return (
    <section>
      <Title>Customers</Title>
      <form class="filters" role="search" onSubmit={filter}>
        <div class="field">
          <label for="search">Search {can.seePersonal(session.role) ? "name or email" : "name"}</label>
          <input id="search" name="search" type="search" defaultValue={search} />
        </div>
        <div class="field">
          <label for="status">Status</label>
          <select id="status" name="status" defaultValue={status}>
            <option value="">Any</option><option value="ACTIVE">Active</option><option value="ARCHIVED">Archived</option>
          </select>
        </div>
        <button type="submit">Search</button>
      </form>
      <ErrorBox error={q.error} />
      {c && (
        <>
          <p id="customer-count" aria-live="polite">{c.totalCount} customers{c.totalCount ? `, showing ${first + 1}–${first + c.edges.length}` : ""}</p>
          <div class="table">
            <table id="customers">
              <thead><tr><th scope="col">Name</th><th scope="col">Status</th><th scope="col">Sales rep</th><th scope="col">Next appointment</th><th scope="col">Open deals</th></tr></thead>
              <tbody>
                {c.edges.map(({ node: n }) => (
                  <tr key={n.id}>
                    <td><a href={"#/customer/" + n.id}>{n.name}</a></td>
                    <td><span class={"status " + n.status.toLowerCase()}>{n.status}</span></td>
                    <td>{n.salesRep ? n.salesRep.name : "—"}</td>
                    <td>{n.nextAppointment ? when(n.nextAppointment.startsAt) : "—"}</td>
                    <td class="num">{n.openDealCount}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <nav class="pager" aria-label="Pages">
            <button type="button" disabled={cursors.length < 2} onClick={() => setCursors(cursors.slice(0, -1))}>Previous</button>
            <button type="button" disabled={!c.pageInfo.hasNextPage} onClick={() => setCursors([...cursors, c.pageInfo.endCursor])}>Next</button>
          </nav>
        </>
      )}
    </section>
  );
}
