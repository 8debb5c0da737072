// Campaigns, and a campaign's deals as a pipeline: open → won or lost,
// with totals per currency; deals move on as they change.
import { useEffect, useState } from "preact/hooks";
import { gql, subscribe } from "./gql.js";
import { ErrorBox, Field, FormErrors, Title, errorsFor, money, sumMoney, useQuery } from "./ui.jsx";
import { can } from "./session.js";

export function Campaigns() {
  const q = useQuery(() => gql(`{ campaigns { id name status openDealCount wonDealTotal { amount currencyCode } } }`), []);
  const list = (q.data && q.data.campaigns) || [];
  return (
    <section>
      <Title>Campaigns</Title>
      <ErrorBox error={q.error} />
      <ul class="list" id="campaigns">
        {list.map((c) => (
          <li key={c.id}><a href={"#/campaign/" + c.id}>{c.name}</a> <span class={"status " + c.status.toLowerCase()}>{c.status}</span>
            <span class="muted"> {c.openDealCount} open; won {c.wonDealTotal.map(money).join(", ") || "nothing yet"}</span></li>
        ))}
        {q.data && !list.length && <li class="muted">no campaigns</li>}
      </ul>
    </section>
  );
}

const stages = [["OPEN", "Open"], ["WON", "Won"], ["LOST", "Lost"]];

function DealCard({ d, editable, onDone }) {
  const [losing, setLosing] = useState(false);
  const [errors, setErrors] = useState(null);
  const run = async (mutation, type, input) => {
    try {
      await gql(`mutation D($input: ${type}!) { ${mutation}(input: $input) { id } }`, { input: { id: d.id, expectedVersion: d.version, ...input } });
      setErrors(null);
      onDone();
    } catch (err) {
      setErrors(errorsFor(err, ["reason"]));
    }
  };
  return (
    <li class="deal">
      <strong>{d.product}</strong> <span>{money(d.value)}</span>
      <div class="muted"><a href={"#/customer/" + d.customer.id}>{d.customer.name}</a>{d.salesRep ? ", " + d.salesRep.name : ""}</div>
      {d.lostReason && <div class="muted">lost: {d.lostReason}</div>}
      {editable && d.stage === "OPEN" && (
        <div class="buttons">
          <button type="button" onClick={() => run("winDeal", "WinDealInput", {})}>Won</button>
          <button type="button" aria-expanded={losing} onClick={() => setLosing(!losing)}>Lost…</button>
        </div>
      )}
      {losing && d.stage === "OPEN" && (
        <form noValidate onSubmit={(e) => { e.preventDefault(); run("loseDeal", "LoseDealInput", { reason: new FormData(e.target).get("reason") }); }}>
          <Field form={"lose-" + d.id} name="reason" label="Why lost" errors={errors} />
          <button type="submit">Mark lost</button>
        </form>
      )}
      <FormErrors errors={errors} />
    </li>
  );
}

export function Pipeline({ id, session }) {
  const q = useQuery(() => gql(`query P($id: ID!) { campaign(id: $id) { id name status
    offers { id product discountPercent }
    deals { id product stage version lostReason value { amount currencyCode } customer { id name } salesRep { id name } } } }`, { id }), [id]);
  useEffect(() => subscribe("subscription ($id: ID) { dealChanged(campaignId: $id) { id } }", { id }, q.reload), [id]);
  const c = q.data && q.data.campaign;
  const editable = can.closeDeal(session.role);
  return (
    <section>
      <Title>{c ? "Pipeline: " + c.name : "Pipeline"}</Title>
      <ErrorBox error={q.error} />
      {q.data && !c && <p>No campaign {id}.</p>}
      {c && (
        <>
          <p><span class={"status " + c.status.toLowerCase()}>{c.status}</span> <span class="muted">offers: {c.offers.map((o) => `${o.product} (−${o.discountPercent}%)`).join(", ") || "none"}</span></p>
          <div class="pipeline" id="pipeline">
            {stages.map(([stage, label]) => {
              const deals = c.deals.filter((d) => d.stage === stage);
              return (
                <section class={"column " + stage.toLowerCase()} key={stage} aria-labelledby={"col-" + stage}>
                  <h2 id={"col-" + stage}>{label} <span class="count">{deals.length}</span></h2>
                  <p class="totals">{sumMoney(deals.map((d) => d.value)).map(money).join(" · ") || "—"}</p>
                  <ul>{deals.map((d) => <DealCard key={d.id + d.version} d={d} editable={editable} onDone={q.reload} />)}</ul>
                </section>
              );
            })}
          </div>
        </>
      )}
    </section>
  );
}
