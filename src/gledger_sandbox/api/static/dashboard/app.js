// The dashboard's shell: signing in with an API key, the views by URL fragment (#accounts...),
// the ledger picker, and the overview (the tenant at a glance, its clock and the advance).

import {api, ApiError, clear, guarded, h, ledger, say, session, state, table, when} from "./dom.js";
import {showAccounts, showEntries, showReports} from "./books.js";
import {showEvents, showWebhooks, startFeed, stopFeed} from "./live.js";

const VIEWS = {overview: showOverview, accounts: showAccounts, entries: showEntries,
  events: showEvents, webhooks: showWebhooks, reports: showReports};

const $ = (id) => document.getElementById(id);

async function loadTenant() {
  const [tenant, ledgers] = await Promise.all([
    api("GET", "/v1/sandbox/tenant"), api("GET", "/v1/ledgers", {query: {limit: 100}})]);
  state.tenant = tenant;
  state.ledgers = ledgers.data;
  if (!state.ledgers.some((l) => l.id === state.ledgerId)) {
    state.ledgerId = state.ledgers.length ? state.ledgers[0].id : null;
  }
  clear($("ledger"), state.ledgers.map((l) =>
    h("option", {value: l.id, selected: l.id === state.ledgerId}, l.name)));
  $("tenant-badge").textContent = `${tenant.tenant_id} (${tenant.fixture}, seed ${tenant.seed})`;
}

function signedIn(yes) {
  $("sign-in").hidden = yes;
  $("views").hidden = !yes;
  $("session").hidden = !yes;
  if (!yes) for (const view of document.querySelectorAll(".view")) view.hidden = true;
}

async function signIn(key) {
  session.key = key;
  try {
    await loadTenant();
  } catch (error) {
    session.key = null;
    signedIn(false);
    $("sign-in-error").textContent = error instanceof ApiError && error.status === 401
      ? "This key is not known to the sandbox (or its tenant expired)." : error.message;
    return;
  }
  $("sign-in-error").textContent = "";
  signedIn(true);
  startFeed();
  await route();
}

async function route() {
  if (!session.key) return;
  const name = location.hash.slice(1) in VIEWS ? location.hash.slice(1) : "overview";
  for (const link of document.querySelectorAll("#views a")) {
    link.classList.toggle("active", link.dataset.view === name);
  }
  for (const [other] of Object.entries(VIEWS)) $(`view-${other}`).hidden = other !== name;
  const view = $(`view-${name}`);
  say("");
  view.setAttribute("aria-busy", "true");
  await guarded(() => VIEWS[name](view));
  view.removeAttribute("aria-busy");
}

async function showOverview(view) {
  await loadTenant();
  const tenant = state.tenant;
  const clock = await api("GET", "/v1/sandbox/clock");
  const counts = Object.entries(tenant.counts).map(([name, count]) =>
    h("div", {class: "count"}, h("strong", {}, count), h("span", {}, name)));
  const seconds = h("input", {type: "number", min: 1, step: "any", value: 3600, id: "advance-seconds"});
  const outcome = h("p", {class: "hint", id: "advance-outcome"});
  const advance = (amount) => guarded(async () => {
    const done = await api("POST", "/v1/sandbox/clock/advance", {body: {seconds: Number(amount)}});
    await showOverview(view);
    $("advance-outcome").textContent = `Moved from ${when(done.previous)} to ${when(done.now)}: ` +
      `${done.steps} step(s), ${done.entries_posted} entr(ies) posted, ${done.entries_expired} expired, ` +
      `${done.webhook_attempts} webhook attempt(s) (${done.webhook_attempts_succeeded} succeeded).`;
  });
  const ledgers = state.ledgers.map((l) => h("tr", {}, h("td", {}, h("code", {}, l.id)),
    h("td", {}, l.name), h("td", {}, l.description || ""), h("td", {}, when(l.created_at))));
  clear(view,
    h("div", {class: "card"}, h("h2", {}, "Tenant ", h("code", {}, tenant.tenant_id)),
      h("p", {class: "hint"}, `Fixture ${tenant.fixture}, seed ${tenant.seed}; created ` +
        `${when(tenant.created_at)}; ${tenant.expires_at ? "expires " + when(tenant.expires_at) : "never expires"}.`),
      h("div", {class: "counts", id: "counts"}, counts)),
    h("div", {class: "card", id: "clock"}, h("h2", {}, "Clock"),
      h("p", {}, h("strong", {id: "clock-now"}, when(clock.now)), ` UTC, ${clock.frozen ? "frozen" : "real time"}`,
        clock.next_due_at ? `; next work falls due at ${when(clock.next_due_at)}` : "; nothing falls due"),
      h("form", {class: "filters", onsubmit: (e) => { e.preventDefault(); advance(seconds.value); }},
        h("label", {}, "Advance by (seconds)", seconds), h("button", {type: "submit", id: "advance"}, "Advance"),
        h("button", {type: "button", onclick: () => advance(3600)}, "+1 hour"),
        h("button", {type: "button", onclick: () => advance(86400)}, "+1 day")), outcome),
    h("div", {class: "card"}, h("h2", {}, "Ledgers"),
      table(["Ledger", "Name", "Description", "Created"], ledgers, {id: "ledgers"})));
}

function start() {
  $("sign-in-form").addEventListener("submit", (event) => {
    event.preventDefault();
    signIn($("api-key").value.trim());
  });
  $("sign-out").addEventListener("click", () => {
    session.key = null;
    stopFeed();
    signedIn(false);
    $("api-key").value = "";
  });
  $("ledger").addEventListener("change", () => { state.ledgerId = $("ledger").value; route(); });
  window.addEventListener("hashchange", route);
  if (session.key) signIn(session.key);
}

start();
