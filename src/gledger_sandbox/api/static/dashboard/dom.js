// DOM building, the API client and money formatting shared by the dashboard's views.
// Every piece of data goes into the page as text (textContent), never as markup.

const SVG_NS = "http://www.w3.org/2000/svg";
const KEY_STORE = "gledger.dashboard.key";

/** An element: h("td", {class: "num", onclick: f}, "text", child, ...). */
export function h(tag, attrs = {}, ...children) {
  return fill(document.createElement(tag), attrs, children);
}

/** An SVG element, same shape as h(). */
export function s(tag, attrs = {}, ...children) {
  return fill(document.createElementNS(SVG_NS, tag), attrs, children);
}

function fill(element, attrs, children) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

export function clear(element, ...children) {
  element.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined));
  return element;
}

export const session = {
  get key() { return sessionStorage.getItem(KEY_STORE); },
  set key(value) {
    if (value) sessionStorage.setItem(KEY_STORE, value);
    else sessionStorage.removeItem(KEY_STORE);
  },
};

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem && problem.detail ? `${problem.code}: ${problem.detail}` : `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

function idempotencyKey() {
  // crypto.randomUUID needs a secure context; a sandbox may be served over plain http.
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return "dash-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Calls the API with the session's key; the parsed JSON, or throws ApiError. */
export async function api(method, path, {query, body} = {}) {
  const url = new URL(path, location.origin);
  for (const [name, value] of Object.entries(query || {})) {
    if (value !== null && value !== undefined && value !== "") url.searchParams.set(name, value);
  }
  const headers = {Accept: "application/json", Authorization: `Bearer ${session.key}`};
  const init = {method, headers};
  if (method === "POST") headers["Idempotency-Key"] = idempotencyKey();
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const answer = await fetch(url, init);
  const text = await answer.text();
  const parsed = text ? JSON.parse(text) : null;
  if (!answer.ok) throw new ApiError(answer.status, parsed);
  return parsed;
}

/** Every item of a cursor list, up to `most` (pages of 500). */
export async function all(path, query = {}, most = 2000) {
  const items = [];
  let cursor = null;
  do {
    const page = await api("GET", path, {query: {...query, limit: 500, cursor}});
    items.push(...page.data);
    cursor = page.has_more ? page.next_cursor : null;
  } while (cursor && items.length < most);
  return items;
}

const DIGITS = new Map();

function fractionDigits(currency) {
  if (!DIGITS.has(currency)) {
    let digits = 2;
    try {
      digits = new Intl.NumberFormat("en-US", {style: "currency", currency})
        .resolvedOptions().maximumFractionDigits;
    } catch (_unknown) { /* not an ISO 4217 code: two decimals */ }
    DIGITS.set(currency, digits);
  }
  return DIGITS.get(currency);
}

/** Minor units as money: money(10800, "USD") -> "$108.00". */
export function money(amount, currency) {
  const digits = fractionDigits(currency);
  const major = amount / 10 ** digits;
  try {
    return major.toLocaleString("en-US", {style: "currency", currency,
      minimumFractionDigits: digits, maximumFractionDigits: digits});
  } catch (_unknown) {
    return `${major.toFixed(digits)} ${currency}`;
  }
}

export function shortMoney(amount, currency) {
  const major = amount / 10 ** fractionDigits(currency);
  return Math.abs(major) >= 1000 ? `${(major / 1000).toFixed(1)}k` : major.toFixed(0);
}

/** "2026-06-01 09:00:01" from an RFC 3339 time. */
export function when(text) {
  return text ? text.replace("T", " ").slice(0, 19) : "";
}

export function day(date) {
  return date.toISOString().slice(0, 10);
}

export function say(text, isError = false) {
  const status = document.getElementById("status");
  status.textContent = text;
  status.className = isError ? "error" : "";
}

/** Runs an async action, showing its error (the problem's code and detail) if it fails. */
export async function guarded(action) {
  try {
    return await action();
  } catch (error) {
    say(error.message, true);
    return undefined;
  }
}

/** What the views share: the signed-in tenant, its ledgers, the ledger chosen. */
export const state = {tenant: null, ledgers: [], ledgerId: null};

export function ledger() {
  return state.ledgers.find((l) => l.id === state.ledgerId) || null;
}

export function table(headings, rows, attrs = {}) {
  return h("table", attrs,
    h("thead", {}, h("tr", {}, headings.map((name) => h("th", {}, name)))),
    h("tbody", {}, rows));
}
