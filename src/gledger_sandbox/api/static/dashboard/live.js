// What moves: the live event feed (the WebSocket, resumed from its last sequence) and the
// webhook endpoints with their delivery log, retry and replay.

import {api, clear, guarded, h, say, session, table, when} from "./dom.js";

const KEPT = 200;
const feed = {socket: null, after: null, events: [], listeners: new Set(), state: "off", retry: 500};

function describe(data) {
  if (!data || typeof data !== "object") return "";
  const words = [data.id, data.code, data.status].filter(Boolean);
  if (typeof data.amount === "number" && data.currency) words.push(`${data.amount} ${data.currency}`);
  if (data.source_type) words.push(`(${data.source_type} ${data.source_id || ""})`.replace(" )", ")"));
  return words.join(" ");
}

function notify() {
  for (const listener of feed.listeners) listener();
}

/** Opens the feed once signed in; the key goes in the first message, never in the URL. */
export async function startFeed() {
  if (feed.socket) return;
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const socket = new WebSocket(`${scheme}//${location.host}/v1/events/ws`);
  feed.socket = socket;
  socket.addEventListener("open", () => {
    const first = {access_token: session.key};
    if (feed.after !== null) first.after = feed.after;
    socket.send(JSON.stringify(first));
  });
  socket.addEventListener("message", async (message) => {
    const frame = JSON.parse(message.data);
    if (frame.kind === "ready") {
      feed.state = "live";
      feed.retry = 500;
      if (feed.after === null) await history(frame.after);
      feed.after = frame.after > (feed.after || 0) ? frame.after : feed.after;
    } else if (frame.kind === "event") {
      keep(frame.event);
    } else if (frame.kind === "error") {
      feed.state = `refused: ${frame.problem.code}`;
    }
    notify();
  });
  socket.addEventListener("close", () => {
    feed.socket = null;
    if (!session.key) return;
    if (!feed.state.startsWith("refused")) feed.state = "reconnecting";
    notify();
    setTimeout(() => { if (session.key) startFeed(); }, feed.retry);
    feed.retry = Math.min(feed.retry * 2, 5000);
  });
}

export function stopFeed() {
  if (feed.socket) feed.socket.close();
  Object.assign(feed, {socket: null, after: null, events: [], state: "off"});
}

async function history(head) {
  // The last events before the feed's head, so the page does not open empty.
  const page = await api("GET", "/v1/events", {query: {after: Math.max(0, head - 25), limit: 25}});
  for (const event of page.data) keep(event);
}

function keep(event) {
  if (feed.events.length && feed.events[0].sequence >= event.sequence) return;
  feed.events.unshift(event);
  feed.events.length = Math.min(feed.events.length, KEPT);
  feed.after = event.sequence;
}

export function showEvents(view) {
  const badge = h("span", {class: "badge", id: "feed-state"});
  const filter = h("input", {placeholder: "filter by type, e.g. entry.", size: 24});
  const body = h("tbody", {});
  function render() {
    badge.textContent = feed.state;
    badge.className = `badge ${feed.state === "live" ? "ok" : "warn"}`;
    const wanted = filter.value.trim();
    body.replaceChildren(...feed.events.filter((e) => !wanted || e.type.startsWith(wanted)).map((e) =>
      h("tr", {}, h("td", {class: "num"}, e.sequence), h("td", {}, when(e.created_at)),
        h("td", {}, h("code", {}, e.type)), h("td", {}, h("code", {}, e.id)),
        h("td", {}, describe(e.data)))));
  }
  filter.addEventListener("input", render);
  feed.listeners.clear();
  feed.listeners.add(render);
  render();
  clear(view, h("div", {class: "card"}, h("h2", {}, "Live events ", badge),
    h("p", {class: "hint"}, "The tenant's event feed (WebSocket /v1/events/ws), newest first; " +
      "it resumes from the last sequence after a reconnect."), filter,
    h("table", {id: "events"}, h("thead", {}, h("tr", {},
      ["Seq", "Sandbox time", "Type", "Event", "About"].map((t) => h("th", {}, t)))), body)));
}

// -- webhooks -------------------------------------------------------------------------------

function failing(delivery) {
  const status = delivery.last_response_status;
  return delivery.status === "failed" ||
    (delivery.attempt_count > 0 && !(status >= 200 && status < 300));
}

export async function showWebhooks(view) {
  const endpoints = await api("GET", "/v1/webhook-endpoints", {query: {limit: 100}});
  const log = h("div", {id: "deliveries"});
  const rows = endpoints.data.map((endpoint) => h("tr", {class: "clickable",
    onclick: () => guarded(() => showDeliveries(log, endpoint))},
  h("td", {}, h("code", {}, endpoint.id)), h("td", {}, endpoint.url),
  h("td", {}, h("span", {class: `pill ${endpoint.status}`}, endpoint.status)),
  h("td", {}, endpoint.event_types.length ? endpoint.event_types.join(", ") : "all")));
  clear(view, h("div", {class: "card"}, h("h2", {}, "Webhook endpoints"),
    endpoints.data.length ? table(["Endpoint", "URL", "Status", "Events"], rows, {id: "endpoints"})
      : h("p", {}, "No endpoint yet: POST /v1/webhook-endpoints makes one."), log));
  if (endpoints.data.length) await showDeliveries(log, endpoints.data[0]);
}

async function showDeliveries(card, endpoint) {
  const page = await api("GET", `/v1/webhook-endpoints/${endpoint.id}/deliveries`, {query: {limit: 100}});
  const reload = () => guarded(() => showDeliveries(card, endpoint));
  const replay = (failedOnly) => guarded(async () => {
    const done = await api("POST", `/v1/webhook-endpoints/${endpoint.id}/replay`,
      {body: {failed_only: failedOnly}});
    say(`Replay: ${done.replayed} deliver${done.replayed === 1 ? "y" : "ies"} scheduled`);
    setTimeout(reload, 600);
  });
  const rows = page.data.map((delivery) => {
    const last = delivery.attempts[delivery.attempts.length - 1];
    const outcome = last ? (last.response_status ?? last.error) : "not tried yet";
    return h("tr", {class: failing(delivery) ? "failing" : "", "data-delivery": delivery.id},
      h("td", {}, h("code", {}, delivery.id)), h("td", {}, h("code", {}, delivery.event_type)),
      h("td", {}, h("code", {}, delivery.event_id)),
      h("td", {}, h("span", {class: `pill ${delivery.status}`}, delivery.status)),
      h("td", {class: "num"}, delivery.attempt_count), h("td", {}, String(outcome)),
      h("td", {}, when(delivery.next_attempt_at)),
      h("td", {}, h("button", {type: "button", class: "retry", onclick: () => guarded(async () => {
        const after = await api("POST", `/v1/webhook-deliveries/${delivery.id}/retry`);
        say(`Retried ${delivery.id}: ${after.status} (attempt ${after.attempt_count}, ` +
          `answer ${after.last_response_status ?? "none"})`);
        await showDeliveries(card, endpoint);
      })}, "Retry")));
  });
  clear(card, h("h3", {}, `Delivery log of ${endpoint.url}`),
    h("p", {}, h("button", {type: "button", id: "replay-failed", onclick: () => replay(true)},
      "Replay failed deliveries"), " ",
    h("button", {type: "button", id: "replay-all", onclick: () => replay(false)},
      "Replay all retained events"), " ",
    h("button", {type: "button", onclick: reload}, "Refresh")),
    page.data.length ? table(["Delivery", "Event type", "Event", "Status", "Attempts",
      "Last answer", "Next attempt", ""], rows, {id: "delivery-log"}) : h("p", {}, "No delivery yet."));
}
