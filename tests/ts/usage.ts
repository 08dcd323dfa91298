// A partner's TypeScript against the types openapi-typescript generates from the served spec.
// `tsc --strict --noEmit` must accept the right uses and refuse each `@ts-expect-error` line:
// an unused `@ts-expect-error` is itself an error, so a wrong type in the spec fails the check.
import type { components, operations, paths } from "./gledger";

type Schemas = components["schemas"];
type Entry = Schemas["Entry"];
type EntryInput = paths["/v1/entries"]["post"]["requestBody"]["content"]["application/json"];
type Created = operations["createEntry"]["responses"][201]["content"]["application/json"];
type Problem = operations["createEntry"]["responses"][422]["content"]["application/problem+json"];

const input: EntryInput = {
  ledger_id: "ldg_01HXR3M2A7E5K9P1S4V8Y6B3DQ",
  lines: [
    { account_id: "acct_cash", direction: "debit", amount: 10000 },
    { account_id: "acct_revenue", direction: "credit", amount: 10000 },
  ],
};

// Ids are strings, not objects.
const ledgerId: string = input.ledger_id;
// @ts-expect-error an id is a string
const notAnId: EntryInput = { ...input, ledger_id: {} };
// @ts-expect-error amounts are numbers
const textAmount: EntryInput["lines"][number] = { account_id: "a", direction: "debit", amount: "1" };
// @ts-expect-error a direction is debit or credit
const sideways: EntryInput["lines"][number] = { account_id: "a", direction: "up", amount: 1 };

function describe(entry: Created): string {
  // A posted entry's void_reason is null: the enum lists null, so this type-checks.
  const reason: Entry["void_reason"] = null;
  const lines = entry.lines.map((line) => `${line.direction} ${line.amount} ${line.currency}`);
  return `${entry.id} ${entry.status} ${reason ?? "-"} ${lines.join(", ")}`;
}

// @ts-expect-error void_reason is one of its reasons or null
const badReason: Entry["void_reason"] = "because";

function problemCode(problem: Problem): string {
  return problem.code;
}

// @ts-expect-error the page of entries is `data`, not `items`
const pageItems = (page: Schemas["EntryPage"]) => page.items;

const events: Schemas["EventType"][] = ["entry.posted", "account.created"];

export { ledgerId, notAnId, textAmount, sideways, describe, badReason, problemCode, pageItems, events };
