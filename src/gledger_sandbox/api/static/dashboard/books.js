// The books: accounts with their balances and a balance over time, the entries browser with
// its filters, and the P&L and cash flow as charts.

import {all, api, clear, day, guarded, h, ledger, money, shortMoney, state, table, when} from "./dom.js";
import {barChart, flowChart, lineChart} from "./charts.js";

const CHART_DAYS = 30;

function clockNow() {
  return state.tenant ? new Date(state.tenant.clock.now) : new Date();
}

// -- accounts -------------------------------------------------------------------------------

export async function showAccounts(view) {
  const current = ledger();
  if (!current) return clear(view, h("p", {}, "This tenant has no ledger yet."));
  const [accounts, balances] = await Promise.all([
    all(`/v1/ledgers/${current.id}/accounts`),
    api("GET", `/v1/ledgers/${current.id}/balances`),
  ]);
  const byId = new Map(balances.data.map((b) => [b.account_id, b]));
  const chart = h("div", {id: "balance-chart", class: "card"});
  const rows = accounts.map((account) => {
    const balance = byId.get(account.id) || {debits: 0, credits: 0, balance: 0};
    return h("tr", {class: "clickable", "data-account": account.code,
      onclick: () => guarded(() => balanceChart(chart, account))},
    h("td", {}, h("code", {}, account.code)), h("td", {}, account.name), h("td", {}, account.kind),
    h("td", {class: "num"}, money(balance.debits, account.currency)),
    h("td", {class: "num"}, money(balance.credits, account.currency)),
    h("td", {class: "num strong"}, money(balance.balance, account.currency)));
  });
  clear(view,
    h("div", {class: "card"}, h("h2", {}, `Accounts of ${current.name}`),
      h("p", {class: "hint"}, "Posted balances, signed by each account's normal balance. " +
        "Click an account for its balance over time."),
      table(["Code", "Name", "Kind", "Debits", "Credits", "Balance"], rows, {id: "accounts"})),
    chart);
  const busiest = [...accounts].sort((a, b) =>
    Math.abs((byId.get(b.id) || {}).balance || 0) - Math.abs((byId.get(a.id) || {}).balance || 0))[0];
  if (busiest) await balanceChart(chart, busiest);
}

async function balanceChart(card, account) {
  const end = clockNow();
  const moments = Array.from({length: CHART_DAYS + 1}, (_, i) =>
    new Date(end.getTime() - (CHART_DAYS - i) * 86400_000));
  // One O(1) read per day: the balance as of that moment, in effective time.
  const points = await Promise.all(moments.map(async (moment) => {
    const found = await api("GET", `/v1/accounts/${account.id}/balance`,
      {query: {as_of: moment.toISOString()}});
    return {label: day(moment).slice(5), value: found.posted.amount};
  }));
  const format = (v) => shortMoney(v, account.currency);
  clear(card, h("h2", {}, `${account.code}: posted balance, last ${CHART_DAYS} days`),
    lineChart(points, `Balance of ${account.code} over time`, format),
    h("p", {class: "hint"}, `Now ${money(points[points.length - 1].value, account.currency)}` +
      ` (${account.currency}); each point is GET /v1/accounts/{id}/balance?as_of=...`));
}

// -- entries --------------------------------------------------------------------------------

export async function showEntries(view) {
  const current = ledger();
  if (!current) return clear(view, h("p", {}, "This tenant has no ledger yet."));
  const accounts = await all(`/v1/ledgers/${current.id}/accounts`);
  const field = (label, input) => h("label", {}, label, input);
  const status = h("select", {name: "status"},
    ["", "pending", "posted", "voided"].map((v) => h("option", {value: v}, v || "any")));
  const source = h("input", {name: "source_type", placeholder: "invoice, payout...", size: 12});
  const account = h("select", {name: "account_id"}, h("option", {value: ""}, "any"),
    accounts.map((a) => h("option", {value: a.id}, a.code)));
  const from = h("input", {name: "effective_from", type: "date"});
  const to = h("input", {name: "effective_to", type: "date"});
  const body = h("tbody", {});
  const more = h("button", {type: "button", hidden: true}, "Load more");
  const shown = h("span", {class: "hint"});
  let cursor = null;
  let count = 0;

  async function load(reset) {
    if (reset) { body.replaceChildren(); cursor = null; count = 0; }
    const page = await api("GET", "/v1/entries", {query: {
      ledger_id: current.id, status: status.value, source_type: source.value.trim(),
      account_id: account.value, cursor, limit: 25,
      effective_from: from.value ? `${from.value}T00:00:00Z` : null,
      effective_to: to.value ? `${to.value}T00:00:00Z` : null,
    }});
    for (const entry of page.data) body.append(...entryRows(entry));
    count += page.data.length;
    cursor = page.has_more ? page.next_cursor : null;
    more.hidden = !cursor;
    shown.textContent = `${count} entr${count === 1 ? "y" : "ies"} shown${cursor ? ", more to load" : ""}`;
  }

  const form = h("form", {class: "filters", onsubmit: (e) => { e.preventDefault(); guarded(() => load(true)); }},
    field("Status", status), field("Source type", source), field("Account", account),
    field("Effective from", from), field("to", to), h("button", {type: "submit"}, "Filter"));
  more.addEventListener("click", () => guarded(() => load(false)));
  clear(view, h("div", {class: "card"}, h("h2", {}, `Entries of ${current.name}`), form,
    h("table", {id: "entries"}, h("thead", {}, h("tr", {},
      ["Effective", "Entry", "Status", "Description", "Source", "Amount"].map((t) => h("th", {}, t)))),
    body), h("p", {}, more, " ", shown)));
  await load(true);
}

function entryRows(entry) {
  const debits = {};
  for (const line of entry.lines) {
    if (line.direction === "debit") debits[line.currency] = (debits[line.currency] || 0) + line.amount;
  }
  const amount = Object.entries(debits).map(([c, v]) => money(v, c)).join(", ");
  const detail = h("tr", {class: "detail", hidden: true}, h("td", {colspan: 6},
    table(["Account", "Debit", "Credit", "Memo"], entry.lines.map((line) => h("tr", {},
      h("td", {}, h("code", {}, line.account_code)),
      h("td", {class: "num"}, line.direction === "debit" ? money(line.amount, line.currency) : ""),
      h("td", {class: "num"}, line.direction === "credit" ? money(line.amount, line.currency) : ""),
      h("td", {}, line.memo || ""))))));
  const row = h("tr", {class: "clickable", onclick: () => { detail.hidden = !detail.hidden; }},
    h("td", {}, when(entry.effective_at)), h("td", {}, h("code", {}, entry.id)),
    h("td", {}, h("span", {class: `pill ${entry.status}`}, entry.status)),
    h("td", {}, entry.description || ""),
    h("td", {}, entry.source_type ? `${entry.source_type} ${entry.source_id || ""}` : ""),
    h("td", {class: "num"}, amount));
  return [row, detail];
}

// -- reports --------------------------------------------------------------------------------

export async function showReports(view) {
  const current = ledger();
  if (!current) return clear(view, h("p", {}, "This tenant has no ledger yet."));
  const end = clockNow();
  const from = h("input", {type: "date", value: day(new Date(end.getTime() - CHART_DAYS * 86400_000))});
  const to = h("input", {type: "date", value: day(new Date(end.getTime() + 86400_000))});
  const charts = h("div", {});
  async function draw() {
    const range = {from: from.value, to: to.value};
    const [pnl, flow] = await Promise.all([
      api("GET", `/v1/ledgers/${current.id}/reports/pnl`, {query: range}),
      api("GET", `/v1/ledgers/${current.id}/reports/cash-flow`, {query: range}),
    ]);
    const format = (v) => shortMoney(v, pnl.currency);
    const bars = [
      {label: "revenue", value: pnl.revenue, kind: "good"},
      {label: "refunds", value: -pnl.refunds, kind: "bad"},
      {label: "platform fees", value: -pnl.platform_fees, kind: "bad"},
      {label: "tax collected", value: pnl.tax, kind: ""},
      {label: "other expenses", value: -pnl.other_expenses, kind: "bad"},
      {label: "net", value: pnl.net, kind: "net"},
    ];
    clear(charts,
      h("div", {class: "card", id: "pnl"}, h("h2", {}, `Profit and loss, ${pnl.from} to ${pnl.to}`),
        barChart(bars, "Profit and loss", format),
        h("p", {class: "hint"}, `Net ${money(pnl.net, pnl.currency)} on revenue ` +
          `${money(pnl.revenue, pnl.currency)}: revenue less refunds, platform fees and other ` +
          "expenses; tax collected is owed on, not earned, so it is shown apart.")),
      h("div", {class: "card", id: "cash-flow"}, h("h2", {}, `Cash flow by day, ${flow.from} to ${flow.to}`),
        flowChart(flow.buckets, "Cash flow", (v) => shortMoney(v, flow.currency)),
        h("p", {class: "hint"}, `In ${money(flow.inflow, flow.currency)}, out ` +
          `${money(flow.outflow, flow.currency)}, net ${money(flow.net, flow.currency)}. ` +
          "Green: inflow; red: outflow; the line: the day's net.")));
  }
  clear(view, h("form", {class: "filters card", onsubmit: (e) => { e.preventDefault(); guarded(draw); }},
    h("label", {}, "From", from), h("label", {}, "to (exclusive)", to),
    h("button", {type: "submit"}, "Show")), charts);
  await draw();
}
